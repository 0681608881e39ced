// RUN: attn-opt %s --attn-lower-attention-to-gpu --split-input-file --verify-diagnostics | FileCheck %s

// One block per (tile of packed rows, K/V head, batch row), 128 threads:
// the 4 query heads of a K/V head are packed query-major, row p = 4 i + g
// (query i of head 4 hk + g), so a block's 128 rows are 32 queries of all 4
// heads and every K/V tile it loads serves them all. K and V tiles of 32
// keys in shared memory (f32); each thread's query row, accumulator and
// tile scores in private memory. The operands are read through strided
// buffers, the result is a fresh buffer.
// CHECK-LABEL: func.func @gqa_causal
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK: %[[Q:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x8x?x64xbf16> to memref<?x8x?x64xbf16, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: %[[B:.*]] = memref.dim %[[Q]], %c0
// CHECK: %[[N:.*]] = memref.dim %[[Q]], %c2
// CHECK: %[[ROWS:.*]] = arith.muli %[[N]], %[[C4]]
// CHECK: %[[TILES:.*]] = arith.ceildivsi %[[ROWS]], %[[C128]]
// CHECK: %[[OUT:.*]] = memref.alloc(%[[B]], %[[N]]) : memref<?x8x?x64xbf16>
// CHECK: gpu.launch blocks(%[[TILE:[a-z0-9]+]], %[[GROUP:[a-z0-9]+]], %[[ROW:[a-z0-9]+]]) in (%{{[a-z0-9]+}} = %[[TILES]], %{{[a-z0-9]+}} = %[[C2]], %{{[a-z0-9]+}} = %[[B]]) threads(%[[THREAD:[a-z0-9]+]], %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) in (%{{[a-z0-9]+}} = %[[C128]], %{{[a-z0-9]+}} = %c1, %{{[a-z0-9]+}} = %c1)
// CHECK-SAME: workgroup(%[[KT:[a-z0-9]+]] : memref<32x64xf32, #gpu.address_space<workgroup>>, %[[VT:[a-z0-9]+]] : memref<32x64xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: private(%{{[a-z0-9]+}} : memref<64xf32, #gpu.address_space<private>>, %{{[a-z0-9]+}} : memref<64xf32, #gpu.address_space<private>>, %{{[a-z0-9]+}} : memref<32xf32, #gpu.address_space<private>>)
// Thread t owns packed row p = 128 tile + t: query p / 4 of head
// 4 hk + p mod 4. All of the block's heads read K/V head hk: nothing is
// copied.
// CHECK: %[[FIRST_PACKED:.*]] = arith.muli %[[TILE]], %[[C128]]
// CHECK: %[[FIRST_HEAD:.*]] = arith.muli %[[GROUP]], %[[C4]]
// CHECK: %[[KVHEAD:.*]] = arith.divsi %[[FIRST_HEAD]], %[[C4]]
// Causal: the key tiles end at the block's last row (skipped above it).
// CHECK: %[[LAST:.*]] = arith.minsi
// CHECK: %[[TILEEND:.*]] = arith.select
// CHECK: %[[PACKED:.*]] = arith.addi %[[FIRST_PACKED]], %[[THREAD]]
// CHECK: %[[QUERY:.*]] = arith.divsi %[[PACKED]], %[[C4]]
// CHECK: %[[IN_GROUP:.*]] = arith.remsi %[[PACKED]], %[[C4]]
// CHECK: %[[HEAD:.*]] = arith.addi %[[FIRST_HEAD]], %[[IN_GROUP]]
// CHECK: memref.load %[[Q]][%[[ROW]], %[[HEAD]], %[[QUERY]], %{{.*}}]
// CHECK: scf.for %{{.*}} = %c0 to %[[TILEEND]] step %c1 iter_args(%{{.*}} = %cst, %{{.*}} = %cst_0) -> (f32, f32)
// CHECK: gpu.barrier
// CHECK: memref.load %{{.*}}[%[[ROW]], %[[KVHEAD]], %{{.*}}, %{{.*}}] : memref<?x2x?x64xbf16
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: memref.store %{{.*}}, %[[KT]]
// CHECK: memref.store %{{.*}}, %[[VT]]
// CHECK: gpu.barrier
// Scores, the online-softmax update in the log2 domain, the accumulator.
// CHECK: math.fma
// CHECK: arith.maximumf
// CHECK: math.exp2
// CHECK: math.exp2
// CHECK: math.fma
// Normalized once; a row that saw no key gets 0.
// CHECK: arith.cmpf ugt
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: attn.attention
func.func @gqa_causal(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                      %v: tensor<?x2x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>)
        -> tensor<?x8x?x64xbf16>
  return %o : tensor<?x8x?x64xbf16>
}

// -----

// Key lengths are read once per block; the op marked for the materialized
// strategy is left to that lowering.
// CHECK-LABEL: func.func @padded
// CHECK: gpu.launch
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?xi32, strided<[?], offset: ?>>
// CHECK: attn.attention {{.*}} {attn.strategy = "materialized"}
func.func @padded(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x2x?x16xf32>
  %r = attn.attention %q, %k, %v {attn.strategy = "materialized"}
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  return %o, %r : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}

// -----

// Head dimensions wider than the 256 a thread of the SIMT kernel holds.
func.func @too_wide(%q: tensor<1x1x4x8192xf32>, %k: tensor<1x1x4x8192xf32>,
                    %v: tensor<1x1x4x8192xf32>) -> tensor<1x1x4x8192xf32> {
  // expected-error @+1 {{the GPU kernels take head widths up to 256 (a thread holds a row of q and of the output in registers), not D = 8192 and Dv = 8192; the CPU takes any width}}
  %o = attn.attention %q, %k, %v
      : (tensor<1x1x4x8192xf32>, tensor<1x1x4x8192xf32>, tensor<1x1x4x8192xf32>)
        -> tensor<1x1x4x8192xf32>
  return %o : tensor<1x1x4x8192xf32>
}

// -----

// A static batch: only the number of queries sizes the result buffer.
// CHECK-LABEL: func.func @static_batch
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c2
// CHECK: memref.alloc(%[[N]]) : memref<2x4x?x8xf32>
func.func @static_batch(%q: tensor<2x4x?x8xf32>, %k: tensor<2x2x49x8xf32>,
                        %v: tensor<2x2x49x8xf32>) -> tensor<2x4x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<>)
      : (tensor<2x4x?x8xf32>, tensor<2x2x49x8xf32>, tensor<2x2x49x8xf32>)
        -> tensor<2x4x?x8xf32>
  return %o : tensor<2x4x?x8xf32>
}

// -----

// The log-sum-exp result: a device buffer that each thread fills for its
// row after the key loop.
// CHECK-LABEL: func.func @with_lse
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x2x40x16xf32>
// CHECK: %[[LSE:.*]] = memref.alloc() : memref<1x2x40xf32>
// CHECK: gpu.launch
// CHECK: math.log2
// CHECK: memref.store %{{.*}}, %[[LSE]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x2x40xf32>
// CHECK: bufferization.to_tensor %[[LSE]]
func.func @with_lse(%q: tensor<1x2x40x16xf32>)
    -> (tensor<1x2x40x16xf32>, tensor<1x2x40xf32>) {
  %o, %lse = attn.attention %q, %q, %q {attn.strategy = "flash"}
      : (tensor<1x2x40x16xf32>, tensor<1x2x40x16xf32>, tensor<1x2x40x16xf32>)
        -> (tensor<1x2x40x16xf32>, tensor<1x2x40xf32>)
  return %o, %lse : tensor<1x2x40x16xf32>, tensor<1x2x40xf32>
}

// -----

// A score modifier: the SIMT kernel caps each score (log2 domain) before
// the mask selects it.
// CHECK-LABEL: func.func @softcap
// CHECK: gpu.launch
// CHECK: math.fma
// CHECK: math.tanh
// CHECK: arith.select
func.func @softcap(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                   %v: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      score_mod(#attn.softcap<cap = 2.0>) {attn.strategy = "flash"}
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}

// -----

// ALiBi: the SIMT kernel biases each score (log2 domain) by its distance
// before the mask selects it.
// CHECK-LABEL: func.func @alibi
// CHECK: gpu.launch
// CHECK: math.fma
// CHECK: math.exp2
// CHECK: math.absi
// CHECK: arith.subf
// CHECK: arith.select
func.func @alibi(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                 %v: tensor<?x2x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      score_mod(#attn.alibi<bottom_right>) {attn.strategy = "flash"}
      : (tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}
