// RUN: attn-opt %s --attn-lower-attention-to-gpu --split-input-file --verify-diagnostics | FileCheck %s
// RUN: attn-opt %s --attn-lower-attention-to-gpu="split-k=3" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=FIXED
// RUN: attn-opt %s --attn-lower-attention-to-gpu="multiprocessors=16" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SMS

// The decode kernel: one decoding token of 8 query heads over 2 K/V heads
// (g = 4). A block holds the group's 4 rows (row p = 4 i + g as for flash);
// split-K makes block x the chunk c of C. Each block writes its rows'
// unnormalized (m, l, acc) to (B, Hkv, C, 4[, Dv]) buffers, head-major, and
// the exact merge follows as four parallel loop nests, each one kernel.
//
// C = max(1, min(ceil(4 * 132 / (B * 2)), S / 512)):
// CHECK-LABEL: func.func @gqa_step
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x8x1x64xf16
// CHECK: %[[TASKS:.*]] = arith.muli %[[B]], %c2 : index
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c2 : memref<?x2x?x64xf16
// CHECK: %[[WANTED:.*]] = arith.ceildivsi %c528, %[[TASKS]] : index
// CHECK: %[[MOST:.*]] = arith.divsi %[[S]], %c512 : index
// CHECK: %[[FEWER:.*]] = arith.minsi %[[WANTED]], %[[MOST]] : index
// CHECK: %[[C:.*]] = arith.maxsi %[[FEWER]], %c1 : index
// CHECK: %[[M:.*]] = memref.alloc(%[[B]], %[[C]]) : memref<?x2x?x4xf32>
// CHECK: %[[L:.*]] = memref.alloc(%[[B]], %[[C]]) : memref<?x2x?x4xf32>
// CHECK: %[[ACC:.*]] = memref.alloc(%[[B]], %[[C]]) : memref<?x2x?x4x64xf32>
// CHECK: gpu.launch blocks(%[[CHUNK:[a-z0-9]+]], %[[HK:[a-z0-9]+]], %[[BATCH:[a-z0-9]+]]) in (%[[GRID_X:[a-z0-9]+]] = %[[C]], %{{[a-z0-9]+}} = %c2, %{{[a-z0-9]+}} = %[[B]]) threads(%[[T:[a-z0-9]+]], %{{.*}}) in (%{{[a-z0-9]+}} = %c128,
//
// The block's chunk of the visited key tiles: ceil(tiles / C) of them from
// c * ceil(tiles / C).
// CHECK: %[[FIRST_HEAD:.*]] = arith.muli %[[HK]], %c4 : index
// CHECK: %[[PER_CHUNK:.*]] = arith.ceildivsi %[[TILES:.*]], %[[GRID_X]] : index
// CHECK: %[[CHUNK_BEGIN:.*]] = arith.muli %[[CHUNK]], %[[PER_CHUNK]] : index
// CHECK: %[[CHUNK_END:.*]] = arith.addi %[[CHUNK_BEGIN]], %[[PER_CHUNK]] : index
// CHECK: arith.minsi %[[TILES]], %[[CHUNK_END]] : index
//
// Packed row p = t: query p / 4 of head 4 hk + p mod 4.
// CHECK: %[[QUERY:.*]] = arith.divsi %[[T]], %c4 : index
// CHECK: %[[IN_GROUP:.*]] = arith.remsi %[[T]], %c4 : index
// CHECK: scf.for %{{.*}} iter_args(%{{.*}} = %cst{{.*}}, %{{.*}} = %cst{{.*}}) -> (f32, f32)
// CHECK: gpu.barrier
//
// The state, not the result: m and l at (b, hk, c, (h - 4 hk) * 1 + i).
// CHECK: %[[GROUP_ROW:.*]] = arith.addi %[[IN_GROUP]], %[[QUERY]] : index
// CHECK: memref.store %{{.*}}, %[[M]][%[[BATCH]], %[[HK]], %[[CHUNK]], %[[GROUP_ROW]]] : memref<?x2x?x4xf32>
// CHECK: memref.store %{{.*}}, %[[L]][%[[BATCH]], %[[HK]], %[[CHUNK]], %[[GROUP_ROW]]] : memref<?x2x?x4xf32>
// CHECK: memref.store %{{.*}}, %[[ACC]][%[[BATCH]], %[[HK]], %[[CHUNK]], %[[GROUP_ROW]], %c0] : memref<?x2x?x4x64xf32>
// CHECK-NOT: memref.alloc
// CHECK: gpu.terminator
//
// The merge: M, the weights 2^(m_c - M), L, and the output in f16.
// CHECK: %[[M_T:.*]] = bufferization.to_tensor %[[M]] restrict writable
// CHECK: %[[L_T:.*]] = bufferization.to_tensor %[[L]] restrict writable
// CHECK: %[[ACC_T:.*]] = bufferization.to_tensor %[[ACC]] restrict writable
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x1xf32>)
// CHECK: tensor.extract %[[M_T]]
// CHECK: arith.maximumf
// CHECK: linalg.generic {{.*}} ins(%[[M_T]], %{{.*}} : tensor<?x2x?x4xf32>, tensor<?x8x1xf32>) outs(%{{.*}} : tensor<?x2x?x4xf32>)
// CHECK: math.exp2
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x1xf32>)
// CHECK: tensor.extract %[[L_T]]
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x1x64xf16>)
// CHECK: tensor.extract %[[ACC_T]]
// CHECK: arith.truncf
// CHECK-NOT: attn.attention
//
// split-k sets C; multiprocessors scales the automatic choice.
// FIXED-LABEL: func.func @gqa_step
// FIXED: memref.alloc(%{{.*}}, %c3) : memref<?x2x?x4xf32>
// FIXED: gpu.launch blocks({{.*}}) in (%{{[a-z0-9]+}} = %c3,
// SMS-LABEL: func.func @gqa_step
// SMS: arith.ceildivsi %c64, %{{.*}} : index
func.func @gqa_step(%q: tensor<?x8x1x64xf16>, %k: tensor<?x2x?x64xf16>,
                    %v: tensor<?x2x?x64xf16>, %len: tensor<?xi32>)
    -> tensor<?x8x1x64xf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) {attn.strategy = "decode"}
      : (tensor<?x8x1x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>,
         tensor<?xi32>) -> tensor<?x8x1x64xf16>
  return %o : tensor<?x8x1x64xf16>
}

// -----

// The lse of a decode step comes from the merge too.
// CHECK-LABEL: func.func @with_lse
// CHECK: gpu.launch
// CHECK-NOT: math.log2
// CHECK: gpu.terminator
// CHECK: math.log2
// CHECK: return
func.func @with_lse(%q: tensor<1x2x1x16xf32>, %k: tensor<1x1x40x16xf32>)
    -> (tensor<1x2x1x16xf32>, tensor<1x2x1xf32>) {
  %o, %lse = attn.attention %q, %k, %k {attn.strategy = "decode"}
      : (tensor<1x2x1x16xf32>, tensor<1x1x40x16xf32>, tensor<1x1x40x16xf32>)
        -> (tensor<1x2x1x16xf32>, tensor<1x2x1xf32>)
  return %o, %lse : tensor<1x2x1x16xf32>, tensor<1x2x1xf32>
}

// -----

// A decode mark on an op whose group does not fit one block.
func.func @too_many_rows(%q: tensor<1x8x40x16xf32>, %k: tensor<1x2x40x16xf32>)
    -> tensor<1x8x40x16xf32> {
  // expected-error @+1 {{the decode kernel needs a static N whose g·N rows fit one block of 128 query rows, and a mask that treats all heads alike}}
  %o = attn.attention %q, %k, %k {attn.strategy = "decode"}
      : (tensor<1x8x40x16xf32>, tensor<1x2x40x16xf32>, tensor<1x2x40x16xf32>)
        -> tensor<1x8x40x16xf32>
  return %o : tensor<1x8x40x16xf32>
}
