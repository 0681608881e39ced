// attn-translate lowers and emits LLVM IR, objects and shared libraries that
// export the signature and one packed entry per function.
// RUN: attn-translate %s -o - --emit=llvm-ir | FileCheck %s --check-prefix=IR
// RUN: attn-translate %s -o %t.o
// RUN: llvm-nm %t.o | FileCheck %s --check-prefix=SYMBOLS
// RUN: attn-translate %s -o %t.so
// RUN: llvm-nm -D --defined-only %t.so | FileCheck %s --check-prefix=SYMBOLS
// RUN: attn-translate %s -o %t.mlir && FileCheck %s --check-prefix=LLVM-DIALECT < %t.mlir

// IR: @attn_module_signature = {{.*}}constant [{{[0-9]+}} x i8] c"attn-abi 1\0Acausal(q: f32[B,2,N,8], k: f32[B,2,S,8], v: f32[B,2,S,8]) -> (out: f32[B,2,N,8])\0A\00"
// IR: define void @_attn_entry_causal(ptr
// IR-NOT: call {{.*}} @malloc

// SYMBOLS-DAG: T _attn_entry_causal
// SYMBOLS-DAG: R attn_module_signature

// LLVM-DIALECT: llvm.func @_attn_entry_causal

func.func @causal(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                  %v: tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}
