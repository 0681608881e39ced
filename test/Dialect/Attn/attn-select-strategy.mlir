// RUN: attn-opt %s --attn-select-strategy --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=AUTO
// RUN: attn-opt %s --attn-select-strategy="strategy=materialized" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=FORCED
// RUN: attn-opt %s --attn-select-strategy="query-tile=4 key-tile=4" --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=SMALL-TILES

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
// not, and flash spreads them over the cores.
// AUTO-LABEL: func.func @many_small
// AUTO: attn.attention {{.*}} {attn.strategy = "flash"}
func.func @many_small(%q: tensor<64x8x8x8xf32>) -> tensor<64x8x8x8xf32> {
  %o = attn.attention %q, %q, %q
      : (tensor<64x8x8x8xf32>, tensor<64x8x8x8xf32>, tensor<64x8x8x8xf32>)
        -> tensor<64x8x8x8xf32>
  return %o : tensor<64x8x8x8xf32>
}
