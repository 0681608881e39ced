// The backward's memory at N = S = 16384 (causal, H = 2, D = 16, f32): its
// peak bytes against the forward's, both run on one core (--sequential) so
// that one task's buffers are live at a time. Every buffer is requested
// with 64 bytes of slack for its alignment.
//
// RUN: attn-run %s --entry forward --strategy flash --sequential --random 1 --shape q=1x2x16384x16 --shape k=1x2x16384x16 --stats | FileCheck %s --check-prefix=FORWARD
// RUN: attn-run %s --entry backward --strategy flash --sequential --random 1 --shape q=1x2x16384x16 --shape k=1x2x16384x16 --stats | FileCheck %s --check-prefix=BACKWARD
//
// The forward packs K^T of both heads into whole key tiles (2 x 256 tiles x
// 16 x 64 f32: 2097152 bytes), V's tail tiles (8192), and per task a query
// tile and an accumulator (64 x 16: 4096 each), a score tile (64 x 64:
// 16384) and four rows of 64 (1024 in all): 2130944 + 14 * 64 = 2131840.
// FORWARD: "peak_bytes": 2131840,
//
// The backward packs nothing for all heads: the tail tiles of k, q and dout
// (2 x 64 x 16 f32: 8192 each), the lse and row dots per query tile
// (2 x 256 x 64 f32: 131072 each); per task its dq rows in f32 (16384 x 16:
// 1048576), one key tile's K^T and V^T with the padded rows they are made
// from, and its dk and dv tiles (six of 64 x 16: 4096 each), and a pair's
// score and gradient tiles (64 x 64: 16384 each): 1392640 + 14 * 64 =
// 1393536 bytes, 0.65 of the forward's (the issue's bound: 3 times).
// The N x S scores of one head alone would take 16384^2 * 4 = 1 GiB.
// BACKWARD: "peak_bytes": 1393536,

func.func @forward(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>,
                   %v: tensor<1x2x?x16xf32>)
    -> (tensor<1x2x?x16xf32>, tensor<1x2x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
        -> (tensor<1x2x?x16xf32>, tensor<1x2x?xf32>)
  return %o, %lse : tensor<1x2x?x16xf32>, tensor<1x2x?xf32>
}

func.func @backward(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>,
                    %v: tensor<1x2x?x16xf32>, %o: tensor<1x2x?x16xf32>,
                    %do: tensor<1x2x?x16xf32>, %lse: tensor<1x2x?xf32>)
    -> (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      mask(#attn.causal<top_left>)
      : (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>,
         tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?xf32>)
        -> (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
  return %dq, %dk, %dv
      : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
}
