// The whole CPU pipeline, for each strategy, and for two machines: the
// vectors are as wide as the target's (8 f32 lanes for AVX2, x86-64-v3; 16
// for AVX-512, x86-64-v4, or the same CPU with +avx512f).
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=x86-64-v3" | FileCheck %s --check-prefixes=COMMON,FLASH,AVX2
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=x86-64-v4" | FileCheck %s --check-prefixes=COMMON,FLASH,AVX512
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=x86-64-v3 features=+avx512f" | FileCheck %s --check-prefixes=COMMON,FLASH,AVX512
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=x86-64-v4 features=-avx512f" | FileCheck %s --check-prefixes=COMMON,FLASH,AVX2
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="strategy=materialized parallel=false" | FileCheck %s --check-prefixes=COMMON,MATERIALIZED

// Only the LLVM dialect (and OpenMP's) remains; the result became a
// caller-allocated out-parameter (five descriptors: q, k, v, key lengths,
// out); temporaries go through the runtime's allocation hooks and are freed;
// the signature global and the packed entry are there.
// COMMON-NOT: attn.
// COMMON-NOT: linalg.
// COMMON-NOT: memref.
// COMMON-DAG: llvm.func @_mlir_memref_to_llvm_alloc(i64) -> !llvm.ptr
// COMMON-DAG: llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)
// COMMON-LABEL: llvm.func @gqa

// Flash: K/V packing and the tiles run in parallel loops; the products are
// vector FMAs; exp2 is a vectorized polynomial (its integer part by a
// truncating conversion, no library call); row maxima and sums are vector
// reductions.
// FLASH: omp.parallel
// FLASH: omp.wsloop
// FLASH: omp.parallel
// FLASH: omp.wsloop
// AVX2-DAG: llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// AVX512-DAG: llvm.intr.fmuladd({{.*}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// FLASH-DAG: llvm.fptosi {{.*}} : vector<64xf32> to vector<64xi32>
// FLASH-DAG: llvm.intr.vector.reduce.fmaximum({{.*}}) {{.*}}: (vector<64xf32>) -> f32
// FLASH-DAG: "llvm.intr.vector.reduce.fadd"({{.*}}) <{fastmathFlags = #llvm.fastmath<reassoc>}> : (f32, vector<64xf32>) -> f32
// FLASH-NOT: llvm.call @{{.*}}exp

// Materialized: one sequential function with the exponential of each score.
// MATERIALIZED-NOT: omp.
// MATERIALIZED: llvm.call @_mlir_memref_to_llvm_alloc
// MATERIALIZED: llvm.intr.exp
// MATERIALIZED: llvm.call @_mlir_memref_to_llvm_free

// COMMON: llvm.func @_mlir_ciface_gqa(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// COMMON: llvm.mlir.global external constant @attn_module_signature("attn-abi 1\0Agqa(q: f32[B,8,N,16], k: f32[B,2,S,16], v: f32[B,2,S,16], key_lengths: i32[B] <= S) -> (out: f32[B,8,N,16])\0A\00")
// COMMON: llvm.func @_attn_entry_gqa(%{{.*}}: !llvm.ptr)
// COMMON: llvm.call @_mlir_ciface_gqa
func.func @gqa(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x8x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}
