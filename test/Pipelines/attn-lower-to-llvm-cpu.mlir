// RUN: attn-opt %s --attn-lower-to-llvm-cpu | FileCheck %s

// The whole CPU pipeline: only the LLVM dialect remains; the result became a
// caller-allocated out-parameter (five descriptors: q, k, v, key lengths,
// out); temporaries go through the runtime's allocation hooks and are freed;
// the signature global and the packed entry are there.

// CHECK-NOT: attn.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.
// CHECK-DAG: llvm.func @_mlir_memref_to_llvm_alloc(i64) -> !llvm.ptr
// CHECK-DAG: llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)
// CHECK-LABEL: llvm.func @gqa
// CHECK: llvm.call @_mlir_memref_to_llvm_alloc
// CHECK: llvm.intr.exp
// CHECK: llvm.call @_mlir_memref_to_llvm_free
// CHECK: llvm.func @_mlir_ciface_gqa(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK: llvm.mlir.global external constant @attn_module_signature("attn-abi 1\0Agqa(q: f32[B,8,N,16], k: f32[B,2,S,16], v: f32[B,2,S,16], key_lengths: i32[B] <= S) -> (out: f32[B,8,N,16])\0A\00")
// CHECK: llvm.func @_attn_entry_gqa(%{{.*}}: !llvm.ptr)
// CHECK: llvm.call @_mlir_ciface_gqa
func.func @gqa(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x8x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}
