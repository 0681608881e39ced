// The layers' projections as packed, register-blocked products on views.
// RUN: attn-opt %s --attn-decompose-layers --attn-tile-projections="vector-width=16 vector-registers=32 depth-tile=48" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-decompose-layers --attn-tile-projections="vector-width=16 vector-registers=32 depth-tile=48" --canonicalize --cse --split-input-file --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map allow-unknown-ops" --canonicalize --cse --attn-cpu-vectorize-tiles="vector-width=16 vector-registers=32" | FileCheck %s --check-prefix=VEC
// RUN: not attn-opt %s --attn-tile-projections="row-tile=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=ERROR

// Self-attention with one K/V head (multi-query), heads of 64: one task
// loop over (batch row, 96 tokens) writes q, k and v (one pass over x).
// Strips are 64 columns (the AVX-512 block: 4 vectors of 16), a strip a
// (rows, 64) view of one head of the result (the head split is an offset,
// no copy). Its reduction over the 128 features runs as products of 48, 48
// and 32 deep chunks of x's rows, read in place, each with the block of the
// weight it needs packed into a contiguous tile. The output projection
// reads attention's heads in place (the merge) and reduces over heads, then
// chunks of each head.

// CHECK-LABEL: func.func @self_multi_query
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<?x?x128xf32>, %[[WQ:[a-z0-9]+]]: tensor<128x128xf32>
// CHECK: %[[TILES:.*]] = arith.ceildivsi %{{.*}}, %c96
// CHECK: %[[QKV:.*]]:3 = scf.forall (%[[B:.*]], %[[T:.*]]) in (%{{.*}}, %[[TILES]]) shared_outs({{.*}}) -> (tensor<?x2x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32>)
// CHECK:   %[[ROW:.*]] = arith.muli %[[T]], %c96
// CHECK:   %[[ROWS:.*]] = arith.minsi %{{.*}}, %c96
// CHECK:   scf.for %[[J:.*]] = %c0 to %c2 step %c1
// CHECK:     %[[COL:.*]] = arith.muli %[[J]], %c64
// CHECK:     %[[C:.*]] = tensor.extract_slice %{{.*}}[0, %[[J]], 0, 0] [1, 1, %[[ROWS]], 64] [1, 1, 1, 1] : tensor<1x2x?x64xf32> to tensor<?x64xf32>
// CHECK:     linalg.fill {{.*}} outs(%[[C]] : tensor<?x64xf32>)
// CHECK:     scf.for %[[K:.*]] = %c0 to %c96 step %c48
// CHECK:       %[[A:.*]] = tensor.extract_slice %[[X]][%[[B]], %[[ROW]], %[[K]]] [1, %[[ROWS]], 48] [1, 1, 1] : tensor<?x?x128xf32> to tensor<?x48xf32>
// CHECK:       %[[WB:.*]] = tensor.extract_slice %[[WQ]][%[[K]], %[[COL]]] [48, 64] [1, 1] : tensor<128x128xf32> to tensor<48x64xf32>
// CHECK:       %[[TILE:.*]] = tensor.empty() : tensor<48x64xf32>
// CHECK:       %[[W:.*]] = linalg.copy ins(%[[WB]] : tensor<48x64xf32>) outs(%[[TILE]] : tensor<48x64xf32>)
// CHECK:       linalg.matmul ins(%[[A]], %[[W]] : tensor<?x48xf32>, tensor<48x64xf32>)
// CHECK:     %[[AR:.*]] = tensor.extract_slice %[[X]][%[[B]], %[[ROW]], 96] [1, %[[ROWS]], 32] [1, 1, 1] : tensor<?x?x128xf32> to tensor<?x32xf32>
// CHECK:     linalg.matmul ins(%[[AR]], %{{.*}} : tensor<?x32xf32>, tensor<32x64xf32>)
// CHECK:   linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x48xf32>, tensor<48x64xf32>)
// CHECK:   linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x48xf32>, tensor<48x64xf32>)
// CHECK:   scf.forall.in_parallel
// CHECK-COUNT-3: tensor.parallel_insert_slice
// CHECK: %[[O:.*]] = attn.attention %[[QKV]]#0, %[[QKV]]#1, %[[QKV]]#2
// CHECK: scf.forall (%[[B2:.*]], %{{.*}}) in ({{.*}}) shared_outs({{.*}}) -> (tensor<?x?x128xf32>)
// CHECK:   scf.for %[[J2:.*]] = %c0 to %c2 step %c1
// CHECK:     scf.for %[[H:.*]] = %c0 to %c2 step %c1
// CHECK:       %[[OA:.*]] = tensor.extract_slice %[[O]][%[[B2]], %[[H]], %{{.*}}, 0] [1, 1, %{{.*}}, 48] [1, 1, 1, 1] : tensor<?x2x?x64xf32> to tensor<?x48xf32>
// CHECK:       linalg.matmul ins(%[[OA]], %{{.*}} : tensor<?x48xf32>, tensor<48x64xf32>)
// CHECK:       linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x16xf32>, tensor<16x64xf32>)
// CHECK-NOT: linalg.generic
// CHECK: return

// After bufferization the products are the register-blocked vector code:
// blocks of 6 rows by 4 vectors of 16 lanes while 6 rows remain, then the
// last rows one at a time; no linalg op and no scalar reduction is left.
// VEC-LABEL: func.func @self_multi_query
// VEC: %[[BLOCKS:.*]] = arith.divui %{{.*}}, %c6 :
// VEC: %[[FULL:.*]] = arith.muli %[[BLOCKS]], %c6 :
// VEC: scf.for %{{.*}} = %c0 to %[[FULL]] step %c6
// VEC: %{{.*}}:24 = scf.for %{{.*}} = %c0 to %c48 step %c1 iter_args({{.*}}) -> (vector<16xf32>
// VEC-COUNT-24: vector.fma {{.*}} : vector<16xf32>
// VEC: scf.for %{{.*}} = %[[FULL]] to %{{.*}} step %c1
// VEC: %{{.*}}:4 = scf.for %{{.*}} = %c0 to %c48 step %c1 iter_args({{.*}}) -> (vector<16xf32>
// VEC-NOT: linalg.matmul
// VEC-NOT: linalg.copy
// VEC-NOT: linalg.generic
// VEC: return
func.func @self_multi_query(%x: tensor<?x?x128xf32>, %wq: tensor<128x128xf32>,
                            %wk: tensor<128x64xf32>, %wv: tensor<128x64xf32>,
                            %wo: tensor<128x128xf32>) -> tensor<?x?x128xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(2) kv_heads(1)
      : (tensor<?x?x128xf32>, tensor<128x128xf32>, tensor<128x64xf32>,
         tensor<128x64xf32>, tensor<128x128xf32>) -> tensor<?x?x128xf32>
  return %y : tensor<?x?x128xf32>
}

// -----

// Cross attention in bf16: q from x, k and v from the source in one task
// loop of their own; weight blocks widened to f32 as they are packed, x and
// the source widened as the products read them; heads of 24 take strips of
// 8 columns (24 is no multiple of 16; an 8-lane vector divides it).

// CHECK-LABEL: func.func @cross_bf16
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<?x?x48xbf16>, %[[SRC:[a-z0-9]+]]: tensor<?x?x32xbf16>
// CHECK: scf.forall ({{.*}}) shared_outs({{.*}}) -> (tensor<?x2x?x24xf32>)
// CHECK:   linalg.generic {{.*}} ins(%{{.*}} : tensor<48x8xbf16>) outs(%{{.*}} : tensor<48x8xf32>)
// CHECK:     arith.extf %{{.*}} : bf16 to f32
// CHECK:   linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x48xbf16>, tensor<48x8xf32>)
// CHECK: scf.forall ({{.*}}) shared_outs({{.*}}) -> (tensor<?x2x?x24xf32>, tensor<?x2x?x24xf32>)
// CHECK:   linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x32xbf16>, tensor<32x8xf32>)
// CHECK: attn.attention

// VEC-LABEL: func.func @cross_bf16
// VEC: memref.load %{{.*}} : memref<?x48xbf16, strided<[48, 1], offset: ?>>
// VEC-NEXT: arith.extf %{{.*}} : bf16 to f32
// VEC-NOT: linalg.matmul
func.func @cross_bf16(%x: tensor<?x?x48xbf16>, %source: tensor<?x?x32xbf16>,
                      %wq: tensor<48x48xbf16>, %wk: tensor<32x48xbf16>,
                      %wv: tensor<32x48xbf16>, %wo: tensor<48x48xbf16>)
    -> tensor<?x?x48xbf16> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo source(%source)
      heads(2) kv_heads(2)
      : (tensor<?x?x48xbf16>, tensor<48x48xbf16>, tensor<32x48xbf16>,
         tensor<32x48xbf16>, tensor<48x48xbf16>, tensor<?x?x32xbf16>)
        -> tensor<?x?x48xbf16>
  return %y : tensor<?x?x48xbf16>
}

// -----

// Heads of 6 split into no vector: the projections into heads stay
// linalg.generic ops (loops); the output projection's 12 columns take
// strips of 4.

// CHECK-LABEL: func.func @narrow_heads
// CHECK-NOT: linalg.matmul
// CHECK-COUNT-3: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: attn.attention
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x6xf32>, tensor<6x4xf32>)
func.func @narrow_heads(%x: tensor<?x?x12xf32>, %wq: tensor<12x12xf32>,
                        %wk: tensor<12x12xf32>, %wv: tensor<12x12xf32>,
                        %wo: tensor<12x12xf32>) -> tensor<?x?x12xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(2) kv_heads(2)
      : (tensor<?x?x12xf32>, tensor<12x12xf32>, tensor<12x12xf32>,
         tensor<12x12xf32>, tensor<12x12xf32>) -> tensor<?x?x12xf32>
  return %y : tensor<?x?x12xf32>
}

// ERROR: error: attn-tile-projections needs vector-width >= 4, vector-registers >= 8, row-tile >= 1 and depth-tile >= 1
