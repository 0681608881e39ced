// Attention sinks against the float64 reference (which adds each head's
// sink to the denominator of every row as a key with no value): the flash,
// materialized and decode strategies, grouped heads, key lengths with a 0
// (rows that see no key: out 0, lse the sink), N != S, N = 1, a sink far
// above the scores (8: the row's weights sum to little), a causal window
// (gpt-oss's layers), ALiBi, the strided pattern (decomposed after the
// sinks are taken out) and bf16; the lse includes the sink.
//
// RUN: attn-run %s --entry gqa_causal --random 1 --shape q=2x6x37x16 --shape k=2x2x53x16 --values key_lengths=53,0 --values sinks=0.5,-1,2,8,0,-3 --check | FileCheck %s --check-prefix=BOTH
// RUN: attn-run %s --entry gqa_causal --random 1 --shape q=2x6x37x16 --shape k=2x2x53x16 --values key_lengths=41,0 --values sinks=0.5,-1,2,8,0,-3 --strategy materialized --check | FileCheck %s --check-prefix=BOTH
// RUN: attn-run %s --entry gqa_causal --random 2 --shape q=1x6x150x16 --shape k=1x2x201x16 --values key_lengths=190 --values sinks=1,1,1,1,1,1 --query-tile 16 --key-tile 32 --check | FileCheck %s --check-prefix=BOTH
// RUN: attn-run %s --entry decode --random 3 --shape k=2x2x300x16 --values key_lengths=300,0 --values sinks=0,2,-2,5 --check | FileCheck %s --check-prefix=DECODE
// RUN: attn-run %s --entry window_alibi --random 4 --shape q=1x4x130x8 --shape k=1x4x130x8 --values sinks=0.25,-0.5,1.5,3 --check
// RUN: attn-run %s --entry strided --random 5 --shape q=1x4x120x8 --shape k=1x4x120x8 --values sinks=0.25,-0.5,1.5,3 --check
// RUN: attn-run %s --entry bfloat --random 6 --shape q=1x2x45x16 --shape k=1x2x60x16 --values sinks=1,-1 --check
// RUN: attn-run %s --entry bfloat --random 6 --shape q=1x2x1x16 --shape k=1x2x60x16 --values sinks=1,-1 --strategy materialized --check
//
// BOTH: check out [{{.*}}]: {{.*}} ok
// BOTH: check lse [{{.*}}]: {{.*}} ok
// DECODE: check out [2,4,1,16]: {{.*}} ok
// DECODE: decode (decode)

func.func @gqa_causal(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                      %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>,
                      %sinks: tensor<6xf32>)
    -> (tensor<?x6x?x16xf32>, tensor<?x6x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%len) sinks(%sinks)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>, tensor<6xf32>)
        -> (tensor<?x6x?x16xf32>, tensor<?x6x?xf32>)
  return %o, %lse : tensor<?x6x?x16xf32>, tensor<?x6x?xf32>
}

func.func @decode(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>,
                  %sinks: tensor<4xf32>) -> tensor<?x4x1x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len) sinks(%sinks)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>, tensor<4xf32>) -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}

func.func @window_alibi(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                        %v: tensor<?x4x?x8xf32>, %sinks: tensor<4xf32>)
    -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v sinks(%sinks)
      mask(#attn.window<left = 40, right = 0, alignment = bottom_right>)
      score_mod(#attn.alibi<bottom_right>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>,
         tensor<4xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @strided(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                   %v: tensor<?x4x?x8xf32>, %sinks: tensor<4xf32>)
    -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v sinks(%sinks) mask(#attn.strided<stride = 6>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>,
         tensor<4xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @bfloat(%q: tensor<?x2x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                  %v: tensor<?x2x?x16xbf16>, %sinks: tensor<2xf32>)
    -> tensor<?x2x?x16xbf16> {
  %o = attn.attention %q, %k, %v sinks(%sinks) mask(#attn.causal<bottom_right>)
      : (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>,
         tensor<2xf32>) -> tensor<?x2x?x16xbf16>
  return %o : tensor<?x2x?x16xbf16>
}
