// RUN: attn-opt %s --attn-emit-entry-points | FileCheck %s

// Each C interface function gets a packed entry that reads one descriptor
// pointer per argument from an array of pointers.

// CHECK-LABEL: llvm.func @_attn_entry_sdpa
// CHECK-SAME: (%[[ARGS:.*]]: !llvm.ptr)
// CHECK: %[[SLOT0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[D0:.*]] = llvm.load %[[SLOT0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[SLOT1:.*]] = llvm.getelementptr %[[ARGS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[D1:.*]] = llvm.load %[[SLOT1]] : !llvm.ptr -> !llvm.ptr
// CHECK: llvm.call @_mlir_ciface_sdpa(%[[D0]], %[[D1]]) : (!llvm.ptr, !llvm.ptr) -> ()
// CHECK: llvm.return
// CHECK-NOT: @_attn_entry_external
module {
  llvm.func @_mlir_ciface_sdpa(%a: !llvm.ptr, %b: !llvm.ptr) {
    llvm.return
  }
  llvm.func @_mlir_ciface_external(!llvm.ptr)
}
