// RUN: attn-opt %s --attn-select-strategy --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=AUTO
// RUN: attn-opt %s --attn-select-strategy="strategy=materialized" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=FORCED
// RUN: attn-opt %s --attn-select-strategy="query-tile=4 key-tile=4" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SMALL-TILES
// RUN: attn-opt %s --attn-select-strategy="decode=false" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=NO-DECODE

// Dynamic lengths: flash, whatever they turn out to be.
// AUTO-LABEL: func.func @dynamic
// AUTO: attn.attention {{.*}} {attn.strategy = "flash"}
// FORCED-LABEL: func.func @dynamic
// FORCED: attn.attention {{.*}} {attn.strategy = "materialized"}
func.func @dynamic(%q: tensor<?x1x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                   %v: tensor<?x1x?x8xf32>) -> tensor<?x1x?x8xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x1x?x8xf32>
  return %o : tensor<?x1x?x8xf32>
}

// -----

// Static 2 x 1 x 10 x 12 scores (240) fit in one 64 x 64 tile: materialized;
// with 4 x 4 tiles they do not.
// AUTO-LABEL: func.func @one_tile
// AUTO: attn.attention {{.*}} {attn.strategy = "materialized"}
// SMALL-TILES-LABEL: func.func @one_tile
// SMALL-TILES: attn.attention {{.*}} {attn.strategy = "flash"}
func.func @one_tile(%q: tensor<2x1x10x8xf32>, %k: tensor<2x1x12x8xf32>,
                    %v: tensor<2x1x12x8xf32>) -> tensor<2x1x10x8xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<2x1x10x8xf32>, tensor<2x1x12x8xf32>, tensor<2x1x12x8xf32>)
        -> tensor<2x1x10x8xf32>
  return %o : tensor<2x1x10x8xf32>
}

// -----

// Many small attentions (64 batch rows x 8 heads of 8 x 8 scores, the
// residue classes of a sparse mask, say): each fits a tile, all of them do
// not. Their 8 query rows per K/V head fit one tile: decode spreads the
// (batch row, K/V head) tasks over the cores; flash does the same where
// decode is not allowed.
// AUTO-LABEL: func.func @many_small
// AUTO: attn.attention {{.*}} {attn.strategy = "decode"}
// NO-DECODE-LABEL: func.func @many_small
// NO-DECODE: attn.attention {{.*}} {attn.strategy = "flash"}
func.func @many_small(%q: tensor<64x8x8x8xf32>) -> tensor<64x8x8x8xf32> {
  %o = attn.attention %q, %q, %q
      : (tensor<64x8x8x8xf32>, tensor<64x8x8x8xf32>, tensor<64x8x8x8xf32>)
        -> tensor<64x8x8x8xf32>
  return %o : tensor<64x8x8x8xf32>
}

// -----

// One new token per step against a cache of any length, 4 query heads per
// K/V head: 4 rows per task, decode.
// AUTO-LABEL: func.func @decode_step
// AUTO: attn.attention {{.*}} {attn.strategy = "decode"}
// SMALL-TILES-LABEL: func.func @decode_step
// SMALL-TILES: attn.attention {{.*}} {attn.strategy = "decode"}
// NO-DECODE-LABEL: func.func @decode_step
// NO-DECODE: attn.attention {{.*}} {attn.strategy = "flash"}
func.func @decode_step(%q: tensor<?x8x1x64xf32>, %k: tensor<?x2x?x64xf32>,
                       %v: tensor<?x2x?x64xf32>, %len: tensor<?xi32>)
    -> tensor<?x8x1x64xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x1x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
         tensor<?xi32>) -> tensor<?x8x1x64xf32>
  return %o : tensor<?x8x1x64xf32>
}

// -----

// 2 rows per K/V head of 4 query heads: 8 rows, more than a 4-row tile.
// SMALL-TILES-LABEL: func.func @group_over_tile
// SMALL-TILES: attn.attention {{.*}} {attn.strategy = "flash"}
func.func @group_over_tile(%q: tensor<?x4x2x8xf32>, %k: tensor<?x1x?x8xf32>,
                           %v: tensor<?x1x?x8xf32>) -> tensor<?x4x2x8xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x4x2x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x4x2x8xf32>
  return %o : tensor<?x4x2x8xf32>
}

// -----

// A pattern split over the heads: the rows of a group would see different
// keys. Flash.
// AUTO-LABEL: func.func @split_heads
// AUTO: attn.attention {{.*}} {attn.strategy = "flash"}
func.func @split_heads(%q: tensor<?x4x1x8xf32>, %k: tensor<?x1x?x8xf32>,
                       %v: tensor<?x1x?x8xf32>) -> tensor<?x4x1x8xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.strided<stride = 8, split_heads = true>)
      : (tensor<?x4x1x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x4x1x8xf32>
  return %o : tensor<?x4x1x8xf32>
}

// -----

// The backward follows the same rule, without decode: flash (tiled) for
// dynamic lengths, materialized when asked for or when its scores fit one
// tile.
// AUTO-LABEL: func.func @backward
// AUTO: attn.attention_grad {{.*}} {attn.strategy = "flash"}
// AUTO: attn.attention_grad {{.*}} {attn.strategy = "materialized"}
// FORCED-LABEL: func.func @backward
// FORCED: attn.attention_grad {{.*}} {attn.strategy = "materialized"}
// FORCED: attn.attention_grad {{.*}} {attn.strategy = "materialized"}
// SMALL-TILES-LABEL: func.func @backward
// SMALL-TILES: attn.attention_grad {{.*}} {attn.strategy = "flash"}
// SMALL-TILES: attn.attention_grad {{.*}} {attn.strategy = "flash"}
func.func @backward(%q: tensor<?x1x?x8xf32>, %o: tensor<?x1x?x8xf32>,
                    %lse: tensor<?x1x?xf32>, %sq: tensor<2x1x10x8xf32>,
                    %so: tensor<2x1x10x8xf32>, %slse: tensor<2x1x10xf32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %q, %q, %o, %o, %lse
      : (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>,
         tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?xf32>)
        -> (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
  %sdq, %sdk, %sdv = attn.attention_grad %sq, %sq, %sq, %so, %so, %slse
      : (tensor<2x1x10x8xf32>, tensor<2x1x10x8xf32>, tensor<2x1x10x8xf32>,
         tensor<2x1x10x8xf32>, tensor<2x1x10x8xf32>, tensor<2x1x10xf32>)
        -> (tensor<2x1x10x8xf32>, tensor<2x1x10x8xf32>, tensor<2x1x10x8xf32>)
  return
}
