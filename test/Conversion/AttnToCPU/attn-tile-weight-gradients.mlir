// The gradients of a layer's weights (attn-generate-gradients writes them
// as sums over the tokens) cut by attn-tile-projections into tasks over
// (block of rows, strip of columns) of dW, each summing packed chunks of
// tokens with the transposed product that attn-cpu-vectorize-tiles blocks.
// RUN: attn-opt %s --attn-tile-projections="vector-width=16 vector-registers=32 depth-tile=40" --canonicalize --cse | FileCheck %s
// RUN: attn-opt %s --attn-tile-projections="vector-width=16 vector-registers=32 depth-tile=40" --canonicalize --cse --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize --cse --attn-cpu-vectorize-tiles="vector-width=16 vector-registers=32" | FileCheck %s --check-prefix=VEC

// dWq[f, h, d] = sum_{b,t} x[b, t, f] dq[b, h, t, d]: F = 48 rows in one
// block, heads of 32 columns (one strip each): a (1, 2, 1) grid of tasks
// (the unit dimensions folded away),
// each over the batch rows and chunks of 40 tokens; a chunk of x (40 x 48)
// and of dq (40 x 32) copied into zero-padded f32 tiles (x widened from
// bf16), then C += x^T dq.
// CHECK-LABEL: func.func @into_heads
// CHECK: scf.forall (%[[H:.*]]) in (2) shared_outs(%[[DW:.*]] = %{{.*}}) -> (tensor<48x2x32xf32>)
// CHECK: %[[TILE:.*]] = tensor.extract_slice %[[DW]][0, %[[H]], 0] [48, 1, 32] [1, 1, 1] : tensor<48x2x32xf32> to tensor<48x32xf32>
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[TILE]] : tensor<48x32xf32>)
// CHECK: scf.for %[[B:.*]] = %c0 to %{{.*}} step %c1 iter_args(%{{.*}} = %[[ZERO]])
// CHECK: scf.for %[[T:.*]] = %c0 to %{{.*}} step %c40 iter_args(%[[ACC:.*]] = %{{.*}})
// CHECK: tensor.extract_slice %arg0[%[[B]], %[[T]], 0] [1, %{{.*}}, 48] [1, 1, 1] : tensor<?x?x48xbf16> to tensor<?x48xbf16>
// CHECK: arith.extf
// CHECK: tensor.extract_slice %arg1[%[[B]], %[[H]], %[[T]], 0] [1, 1, %{{.*}}, 32] [1, 1, 1, 1] : tensor<?x2x?x32xf32> to tensor<?x32xf32>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<40x48xf32>, tensor<40x32xf32>) outs(%[[ACC]] : tensor<48x32xf32>)
// CHECK: tensor.parallel_insert_slice
// VEC-LABEL: func.func @into_heads
// VEC-NOT: linalg.generic {{.*}}"reduction"
// VEC: vector.fma
func.func @into_heads(%x: tensor<?x?x48xbf16>, %dq: tensor<?x2x?x32xf32>)
    -> tensor<48x2x32xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<48x2x32xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<48x2x32xf32>)
      -> tensor<48x2x32xf32>
  %dw = linalg.generic {
      indexing_maps = [affine_map<(f, h, d, b, t) -> (b, t, f)>,
                       affine_map<(f, h, d, b, t) -> (b, h, t, d)>,
                       affine_map<(f, h, d, b, t) -> (f, h, d)>],
      iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %dq : tensor<?x?x48xbf16>, tensor<?x2x?x32xf32>)
      outs(%init : tensor<48x2x32xf32>) {
  ^bb0(%a: bf16, %g: f32, %acc: f32):
    %w = arith.extf %a : bf16 to f32
    %p = arith.mulf %w, %g : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<48x2x32xf32>
  return %dw : tensor<48x2x32xf32>
}
