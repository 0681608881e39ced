// RUN: attn-opt %s --attn-lower-linear-attention="chunk-size=32" --canonicalize --cse --split-input-file --verify-diagnostics | FileCheck %s
// RUN: attn-opt %s --attn-lower-linear-attention="form=recurrent chunk-size=32" --canonicalize --cse --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=REC
// RUN: attn-opt %s --attn-lower-linear-attention="form=chunked chunk-size=32" --canonicalize --cse --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=CHUNKED

// Without a mask: the parallel form (chunked is the same form here). One
// task per (batch row, K/V head); the state (16 x 9, padded to 16 x 16 for
// the vector code) from the key tiles, then the group's 2 x 32 query rows
// read it. No tile is ever N x S: the largest is 64 x 16.
// CHECK-LABEL: func.func @plain
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999997E-7 : f32
// CHECK: scf.forall (%[[B:.*]], %[[HK:.*]]) in (%{{.*}}, 2)
// CHECK: %[[STATE:.*]] = scf.for %[[KEY:.*]] = %c0 to %{{.*}} step %c32 iter_args(%[[S:.*]] = %{{.*}}) -> (tensor<16x16xf32>)
// CHECK: tensor.extract_slice %{{.*}}[%[[B]], %[[HK]], %[[KEY]], 0] {{.*}} : tensor<?x2x?x16xf32> to tensor<?x16xf32>
// CHECK: math.exp2
// CHECK: %[[PHI_KT:.*]] = linalg.transpose ins(%{{.*}} : tensor<32x16xf32>) outs(%{{.*}} : tensor<16x32xf32>)
// CHECK: linalg.matmul ins(%[[PHI_KT]], %{{.*}} : tensor<16x32xf32>, tensor<32x16xf32>) outs(%[[S]] : tensor<16x16xf32>)
// CHECK: scf.for {{.*}} step %c32 iter_args({{.*}}) -> (tensor<2x?x8xf32>)
// CHECK-NOT: reduction
// CHECK: linalg.matmul ins(%{{.*}}, %[[STATE]] : tensor<64x16xf32>, tensor<16x16xf32>) outs(%{{.*}} : tensor<64x16xf32>)
// out = y[:, :8] / (y[:, 8] + 1e-6):
// CHECK: arith.addf %{{.*}}, %[[EPS]] : f32
// CHECK: arith.divf
// REC-LABEL: func.func @plain
// REC: scf.for {{.*}} step %c1 iter_args({{.*}}) -> (tensor<16x16xf32>)
// REC: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x1xf32>, tensor<1x16xf32>)
// REC: scf.for {{.*}} step %c1 iter_args({{.*}}) -> (tensor<2x?x8xf32>)
// REC: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x16xf32>, tensor<16x16xf32>)
func.func @plain(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                 %v: tensor<?x2x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.linear_attention %q, %k, %v
      : (tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// -----

// Causal with a dynamic N: chunks of 32 tokens. Each chunk's 2 x 32 query
// rows read the state before it (phi(Q) S) plus the chunk's own masked
// scores (row r = h·32 + i sees key j <= i) times [V, 1]; then the chunk's
// keys join the state. Keys past the key length are read as zero rows.
// CHECK-LABEL: func.func @causal
// CHECK: scf.forall
// CHECK: %[[LEN:.*]] = arith.minsi %{{.*}}, %{{.*}} : index
// CHECK: scf.for %[[FIRST:.*]] = %c0 to %{{.*}} step %c32 iter_args(%[[S:.*]] = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<16x16xf32>, tensor<2x?x8xf16>)
// CHECK: %[[LEFT:.*]] = arith.subi %[[LEN]], %[[FIRST]] : index
// CHECK: %[[KEYS:.*]] = arith.maxsi %{{.*}}, %c0 : index
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, %{{.*}}, %[[FIRST]], 0] [1, 1, %[[KEYS]], 16]
// CHECK: %[[PHI_KT:.*]] = linalg.transpose ins(%{{.*}} : tensor<32x16xf32>) outs(%{{.*}} : tensor<16x32xf32>)
// CHECK: %[[SCORES:.*]] = linalg.matmul ins(%[[PHI_Q:.*]], %[[PHI_KT]] : tensor<64x16xf32>, tensor<16x32xf32>) outs(%{{.*}} : tensor<64x32xf32>)
// CHECK: linalg.generic {{.*}} outs(%[[SCORES]] : tensor<64x32xf32>)
// CHECK: %[[ROW:.*]] = linalg.index 0 : index
// CHECK: %[[QUERY:.*]] = arith.remsi %[[ROW]], %c32 : index
// CHECK: %[[COL:.*]] = linalg.index 1 : index
// CHECK: arith.cmpi sle, %[[COL]], %[[QUERY]] : index
// CHECK: %[[Y0:.*]] = linalg.matmul ins(%[[PHI_Q]], %[[S]] : tensor<64x16xf32>, tensor<16x16xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<64x32xf32>, tensor<32x16xf32>) outs(%[[Y0]] : tensor<64x16xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: linalg.matmul ins(%[[PHI_KT]], %{{.*}} : tensor<16x32xf32>, tensor<32x16xf32>) outs(%[[S]] : tensor<16x16xf32>)
// The final state: the first Dv + 1 = 9 columns.
// CHECK: tensor.extract_slice %{{.*}}[0, 0] [16, 9] [1, 1] : tensor<16x16xf32> to tensor<16x9xf32>
// REC-LABEL: func.func @causal
// REC: scf.for %[[T:.*]] = %c0 to %{{.*}} step %c1
// REC: %[[VALID:.*]] = arith.cmpi slt, %[[T]], %{{.*}} : index
// REC: scf.if %[[VALID]] -> (tensor<16x16xf32>)
// REC-NOT: reduction
// REC: linalg.matmul
func.func @causal(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>,
                  %v: tensor<?x2x?x8xf16>, %len: tensor<?xi32>)
    -> (tensor<?x4x?x8xf16>, tensor<?x2x16x9xf32>) {
  %o, %s = attn.linear_attention %q, %k, %v key_lengths(%len) causal
      : (tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x8xf16>,
         tensor<?xi32>) -> (tensor<?x4x?x8xf16>, tensor<?x2x16x9xf32>)
  return %o, %s : tensor<?x4x?x8xf16>, tensor<?x2x16x9xf32>
}

// -----

// One decoding token (N = 1 < 32): auto picks the recurrent form, whose
// state starts from the given one. S += phi(k)^T [v, 1] (16 x 1 times
// 1 x 16), then y = phi(q) S for the group's 2 rows: O(D·Dv), whatever the
// length of the context the state stands for.
// CHECK-LABEL: func.func @step
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, %{{.*}}, 0, 0] [1, 1, 16, 9] [1, 1, 1, 1] : tensor<?x2x16x9xf32> to tensor<16x9xf32>
// CHECK: %[[S:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x1xf32>, tensor<1x16xf32>) outs(%{{.*}} : tensor<16x16xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %[[S]] : tensor<2x16xf32>, tensor<16x16xf32>)
// CHUNKED-LABEL: func.func @step
// CHUNKED: tensor<64x32xf32>
func.func @step(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x1x16xf32>,
                %v: tensor<?x2x1x8xf32>, %s0: tensor<?x2x16x9xf32>)
    -> (tensor<?x4x1x8xf32>, tensor<?x2x16x9xf32>) {
  %o, %s = attn.linear_attention %q, %k, %v state(%s0) causal
      : (tensor<?x4x1x16xf32>, tensor<?x2x1x16xf32>, tensor<?x2x1x8xf32>,
         tensor<?x2x16x9xf32>) -> (tensor<?x4x1x8xf32>, tensor<?x2x16x9xf32>)
  return %o, %s : tensor<?x4x1x8xf32>, tensor<?x2x16x9xf32>
}

// -----

// A group of 32 query heads per K/V head reads its query rows in a loop
// over the heads, not in 32 copies: hundreds of copies made one-shot
// bufferization take minutes (found by scripts/fuzz-ir.py). Up to 16 heads
// are copied in straight-line code.
// CHECK-LABEL: func.func @large_group
// CHECK: %[[C32:.*]] = arith.constant 32 : index
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[C32]] step %{{.*}} iter_args
func.func @large_group(%q: tensor<1x32x?x16xf32>, %k: tensor<1x1x?x16xf32>,
                       %v: tensor<1x1x?x8xf32>) -> tensor<1x32x?x8xf32> {
  %o = attn.linear_attention %q, %k, %v causal
      : (tensor<1x32x?x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x8xf32>)
        -> tensor<1x32x?x8xf32>
  return %o : tensor<1x32x?x8xf32>
}
