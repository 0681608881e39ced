// RUN: attn-opt %s --attn-tile-decode="key-tile=16 chunks=3" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-tile-decode="key-tile=16 workers=64" --canonicalize --cse --split-input-file | FileCheck %s --check-prefix=AUTO
// RUN: not attn-opt %s --attn-tile-decode="key-tile=9223372036854775807" --split-input-file 2>&1 | FileCheck %s --check-prefix=HUGE-TILE
// HUGE-TILE: error: key-tile and max-rows must be in [1, 256], chunks and workers not negative; got key-tile 9223372036854775807
// RUN: attn-opt %s --attn-tile-decode="key-tile=16 chunks=3" --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map allow-unknown-ops" --canonicalize --split-input-file | FileCheck %s --check-prefix=IN-PLACE

// Grouped-query decoding: 8 query heads over 2 K/V heads (g = 4), one new
// token, a cache of S positions with a valid length per batch row.
//
// CHECK-LABEL: func.func @gqa_step
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<?x8x1x32xf32>, %[[K:[a-z0-9]+]]: tensor<?x2x?x32xf32>, %[[V:[a-z0-9]+]]: tensor<?x2x?x32xf32>, %[[LEN:[a-z0-9]+]]: tensor<?xi32>)
//
// No packing and no copy of K or V: the only forall is the tasks', one per
// (batch row, K/V head, chunk), each with the partial (m, l, acc) of its 4
// rows. Nothing is replicated per query head.
// CHECK-NOT: scf.forall
// CHECK: %[[PARTS:.*]]:3 = scf.forall (%[[B:.*]], %[[J:.*]], %[[C:.*]]) in (%{{.*}}, 2, 3) shared_outs({{.*}}) -> (tensor<?x2x3x4xf32>, tensor<?x2x3x4xf32>, tensor<?x2x3x4x32xf32>)
//
// The group's query rows, heads 4j .. 4j + 3, as one 4 x 32 tile.
// CHECK: %[[FIRST_HEAD:.*]] = arith.muli %[[J]], %c4 : index
// CHECK: tensor.extract_slice %[[Q]][%[[B]], %[[FIRST_HEAD]], 0, 0] [1, 4, 1, 32] [1, 1, 1, 1] : tensor<?x8x1x32xf32> to tensor<4x1x32xf32>
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<4x1x32xf32> into tensor<4x32xf32>
//
// The chunk: ceil(tiles / 3) consecutive key tiles.
// CHECK: %[[PER_CHUNK:.*]] = arith.ceildivsi %{{.*}}, %c3 : index
// CHECK: %[[CHUNK_BEGIN:.*]] = arith.muli %[[C]], %[[PER_CHUNK]] : index
//
// Each key tile is read from the cache in place, once for the 4 rows.
// CHECK: scf.for %[[T:.*]] = {{.*}} iter_args({{.*}}) -> (tensor<4xf32>, tensor<4xf32>, tensor<4x32xf32>)
// CHECK: %[[COL:.*]] = arith.muli %[[T]], %c16 : index
// CHECK: %[[KEYS:.*]] = tensor.extract_slice %[[K]][%[[B]], %[[J]], %[[COL]], 0] [1, 1, 16, 32] [1, 1, 1, 1] : tensor<?x2x?x32xf32> to tensor<16x32xf32>
// CHECK: %[[VALUES:.*]] = tensor.extract_slice %[[V]][%[[B]], %[[J]], %[[COL]], 0] [1, 1, 16, 32] [1, 1, 1, 1] : tensor<?x2x?x32xf32> to tensor<16x32xf32>
// s[r, t] = sum_d q[r, d] k[t, d]:
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[ROWS]], %[[KEYS]] : tensor<4x32xf32>, tensor<16x32xf32>) outs(%{{.*}} : tensor<4x16xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %[[VALUES]] : tensor<4x16xf32>, tensor<16x32xf32>) outs(%{{.*}} : tensor<4x32xf32>)
//
// The tile that S cuts (S not a multiple of 16) goes through a zero-padded
// copy, so that nothing past the cache is read.
// CHECK: scf.if
// CHECK: %[[TAIL:.*]] = tensor.extract_slice %[[K]][%[[B]], %[[J]], %{{.*}}, 0] [1, 1, %{{.*}}, 32] [1, 1, 1, 1] : tensor<?x2x?x32xf32> to tensor<?x32xf32>
// CHECK: tensor.insert_slice %[[TAIL]] into %{{.*}}[0, 0] [%{{.*}}, 32] [1, 1] : tensor<?x32xf32> into tensor<16x32xf32>
//
// The merge, four parallel loop nests with the chunk sums in their bodies:
// element (b, h, i) of the output reads row (h mod 4) + i of K/V head h / 4;
// M = max_c m_c, the weights w_c = 2^(m_c - M) once per (row, chunk), then
// the weighted sums of l_c and acc_c, which compute no exponential.
// CHECK: %[[MOST:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} outs(%{{.*}} : tensor<?x8x1xf32>)
// CHECK: %[[H:.*]] = linalg.index 1 : index
// CHECK: %[[KV_HEAD:.*]] = arith.divsi %[[H]], %c4 : index
// CHECK: %[[ROW:.*]] = arith.remsi %[[H]], %c4 : index
// CHECK: scf.for %[[CHUNK:.*]] = %c0 to %{{.*}} step %c1
// CHECK: tensor.extract %[[PARTS]]#0[%{{.*}}, %[[KV_HEAD]], %[[CHUNK]], %[[ROW]]] : tensor<?x2x3x4xf32>
// CHECK: arith.maximumf
// CHECK: %[[WEIGHTS:.*]] = linalg.generic {{.*}} ins(%[[PARTS]]#0, %[[MOST]] : tensor<?x2x3x4xf32>, tensor<?x8x1xf32>) outs(%{{.*}} : tensor<?x2x3x4xf32>)
// CHECK: math.exp2
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-NOT: math.exp2
// CHECK: tensor.extract %[[WEIGHTS]]
// CHECK: tensor.extract %[[PARTS]]#1
// CHECK: math.fma
// CHECK: linalg.generic {{.*}} ins(%[[SUM]] : tensor<?x8x1xf32>) outs(%{{.*}} : tensor<?x8x1x32xf32>)
// CHECK-NOT: math.exp2
// CHECK: tensor.extract %[[WEIGHTS]]
// CHECK: tensor.extract %[[PARTS]]#2
// CHECK: math.fma
// CHECK: arith.divf
// CHECK: return
//
// Chosen from the cache: C = max(1, min(ceil(64 / (B * 2)), S / 512)).
// AUTO-LABEL: func.func @gqa_step
// AUTO: %[[KV_TASKS:.*]] = arith.muli %{{.*}}, %c2 : index
// AUTO: %[[WANTED:.*]] = arith.ceildivsi %c64, %[[KV_TASKS]] : index
// AUTO: %[[MOST:.*]] = arith.divsi %{{.*}}, %c512 : index
// AUTO: %[[FEWER:.*]] = arith.minsi %[[WANTED]], %[[MOST]] : index
// AUTO: %[[CHUNKS:.*]] = arith.maxsi %[[FEWER]], %c1 : index
// AUTO: scf.forall ({{.*}}) in (%{{.*}}, 2, %[[CHUNKS]])
//
// After bufferization the key and value tiles are views of the caches.
// IN-PLACE-LABEL: func.func @gqa_step
// IN-PLACE-SAME: (%[[Q:[a-z0-9]+]]: memref<?x8x1x32xf32>, %[[K:[a-z0-9]+]]: memref<?x2x?x32xf32>, %[[V:[a-z0-9]+]]: memref<?x2x?x32xf32>
// IN-PLACE: scf.for
// IN-PLACE: memref.subview %[[K]][{{.*}}] [1, 1, 16, 32] [1, 1, 1, 1] : memref<?x2x?x32xf32> to memref<16x32xf32, strided<[32, 1], offset: ?>>
// IN-PLACE: memref.subview %[[V]][{{.*}}] [1, 1, 16, 32] [1, 1, 1, 1] : memref<?x2x?x32xf32> to memref<16x32xf32, strided<[32, 1], offset: ?>>
func.func @gqa_step(%q: tensor<?x8x1x32xf32>, %k: tensor<?x2x?x32xf32>,
                    %v: tensor<?x2x?x32xf32>, %len: tensor<?xi32>)
    -> tensor<?x8x1x32xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x1x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>,
         tensor<?xi32>) -> tensor<?x8x1x32xf32>
  return %o : tensor<?x8x1x32xf32>
}

// -----

// The number of queries is not static: left to the other strategies.
// CHECK-LABEL: func.func @dynamic_queries
// CHECK: attn.attention
func.func @dynamic_queries(%q: tensor<?x8x?x32xf32>, %k: tensor<?x2x?x32xf32>,
                           %v: tensor<?x2x?x32xf32>) -> tensor<?x8x?x32xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x8x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>)
        -> tensor<?x8x?x32xf32>
  return %o : tensor<?x8x?x32xf32>
}
