// Packed variable-length sequences (FlashAttention's cu_seqlens) against
// the float64 reference, which attends each sequence alone: self-attention
// with a causal mask (bottom-right, within each sequence), a causal window,
// grouped heads, cross attention with other key offsets, an empty sequence
// and one of a single token, rows past the last offset (zeros, lse -inf),
// sinks and ALiBi (positions counted from each sequence's start), the flash
// and materialized strategies, bf16. The work reported is the sequences'
// pairs (a causal self-attention of lengths 1, 30, 0, 45, 64: 3581 pairs
// per head, 21486 for 6 heads), not those of the packed row (9870 a head),
// and the block schedule the sum of the sequences' own: each alone visits
// 6 tiles (64 x 64, a tile per head) and computes 6, 5400, 12150 and 24576
// pairs (attn-run on each sequence as its own attention).
//
// RUN: attn-run %s --entry causal --random 1 --shape q=1x6x140x16 --shape k=1x2x140x16 --values query_offsets=0,1,31,31,76,140 --values key_offsets=0,1,31,31,76,140 --check | FileCheck %s --check-prefixes=CAUSAL,FLASH
// RUN: attn-run %s --entry causal --random 1 --shape q=1x6x140x16 --shape k=1x2x140x16 --values query_offsets=0,1,31,31,76,140 --values key_offsets=0,1,31,31,76,140 --strategy materialized --check | FileCheck %s --check-prefix=CAUSAL
// RUN: attn-run %s --entry causal --random 2 --shape q=1x6x300x16 --shape k=1x2x300x16 --values query_offsets=0,130,131,290 --values key_offsets=0,130,131,290 --query-tile 16 --key-tile 32 --check | FileCheck %s --check-prefix=TAIL
// RUN: attn-run %s --entry cross_window --random 3 --shape q=1x4x90x8 --shape k=1x4x200x8 --values query_offsets=0,10,50,90 --values key_offsets=0,70,70,200 --values sinks=0.5,-1,2,0 --check
// RUN: attn-run %s --entry cross_window --random 3 --shape q=1x4x90x8 --shape k=1x4x200x8 --values query_offsets=0,10,50,90 --values key_offsets=0,70,70,200 --values sinks=0.5,-1,2,0 --strategy materialized --check
// RUN: attn-run %s --entry alibi_bfloat --random 4 --shape q=1x4x100x16 --shape k=1x4x100x16 --values query_offsets=0,37,100 --values key_offsets=0,37,100 --check
// Offsets out of order or past N are refused before the call, naming the
// argument.
// RUN: not attn-run %s --entry causal --random 5 --shape q=1x6x140x16 --shape k=1x2x140x16 --values query_offsets=0,100,31,31,76,140 --values key_offsets=0,1,31,31,76,140 2>&1 | FileCheck %s --check-prefix=ORDER
// ORDER: argument 'query_offsets' (input 3) must not decrease (offsets), but has 31 at index [2] after 100 (signature query_offsets: i32[P] <= N ascending)
// RUN: not attn-run %s --entry causal --random 1 --shape q=1x6x140x16 --shape k=1x2x140x16 --values query_offsets=0,1,31,31,76,140 --values key_offsets=0,1,31,31,76,500 2>&1 | FileCheck %s --check-prefix=BEYOND
// BEYOND: argument 'key_offsets' (input 4) has value 500 at index [5], outside [0, S = 140]
//
// CAUSAL: check out [1,6,140,16]: {{.*}} ok
// CAUSAL: check lse [1,6,140]: {{.*}} ok
// FLASH: schedule: 24 tiles visited (0 full, 24 masked), 42132 pairs computed for 21486 attended
// TAIL: check lse [1,6,300]: {{.*}} ok

func.func @causal(%q: tensor<1x6x?x16xf32>, %k: tensor<1x2x?x16xf32>,
                  %v: tensor<1x2x?x16xf32>, %cq: tensor<?xi32>,
                  %ck: tensor<?xi32>)
    -> (tensor<1x6x?x16xf32>, tensor<1x6x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v sequences(%cq, %ck)
      mask(#attn.causal<bottom_right>)
      : (tensor<1x6x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>,
         tensor<?xi32>, tensor<?xi32>)
        -> (tensor<1x6x?x16xf32>, tensor<1x6x?xf32>)
  return %o, %lse : tensor<1x6x?x16xf32>, tensor<1x6x?xf32>
}

// Cross attention: each sequence's queries see a window of its own keys;
// the second sequence has no key.
func.func @cross_window(%q: tensor<1x4x?x8xf32>, %k: tensor<1x4x?x8xf32>,
                        %v: tensor<1x4x?x8xf32>, %cq: tensor<?xi32>,
                        %ck: tensor<?xi32>, %sinks: tensor<4xf32>)
    -> tensor<1x4x?x8xf32> {
  %o = attn.attention %q, %k, %v sequences(%cq, %ck) sinks(%sinks)
      mask(#attn.window<left = 20, right = 3, alignment = bottom_right>)
      : (tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>,
         tensor<4xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<1x4x?x8xf32>
  return %o : tensor<1x4x?x8xf32>
}

func.func @alibi_bfloat(%q: tensor<1x4x?x16xbf16>, %k: tensor<1x4x?x16xbf16>,
                        %v: tensor<1x4x?x16xbf16>, %cq: tensor<?xi32>,
                        %ck: tensor<?xi32>) -> tensor<1x4x?x16xbf16> {
  %o = attn.attention %q, %k, %v sequences(%cq, %ck)
      mask(#attn.causal<bottom_right>) score_mod(#attn.alibi<bottom_right>)
      : (tensor<1x4x?x16xbf16>, tensor<1x4x?x16xbf16>, tensor<1x4x?x16xbf16>,
         tensor<?xi32>, tensor<?xi32>) -> tensor<1x4x?x16xbf16>
  return %o : tensor<1x4x?x16xbf16>
}
