// Decoding: a few new query rows (N static) against a K/V cache with a valid
// length per batch row, compiled with the decode strategy (one task per
// batch row, K/V head and key chunk, the group's query rows in one tile, the
// cache read in place) and checked against the float64 reference. The
// integration tests (unittests/Integration, suite Decode) sweep each
// function over random cache sizes and lengths with split-K off, forced to 3
// chunks and chosen automatically; these RUN lines check one shape each.
//
// RUN: attn-run %s --entry mha_step --random 1 --shape k=3x4x150x16 --values key_lengths=150,0,77 --key-tile 16 --split-k 1 --check --stats | FileCheck %s --check-prefix=DECODE
//
// Tiles visited, counted from the lowering's own schedule: per (batch row,
// K/V head) the tiles of the valid keys, ceil(150/16) + 0 + ceil(77/16) = 15,
// the last of each masked; times 4 K/V heads.
// RUN: attn-run %s --entry mha_step --random 1 --shape k=3x4x150x16 --values key_lengths=150,0,77 --key-tile 16 | FileCheck %s --check-prefix=MHA-TILES
// The K/V sharing: with 3 query heads per K/V head, decode loads each K/V
// tile once per group, 2 x (19 + 9) = 56 tiles; flash once per query head,
// 3 times as many. Both compute the same scores.
// RUN: attn-run %s --entry gqa_step --random 2 --shape k=2x2x301x16 --values key_lengths=301,129 --key-tile 16 | FileCheck %s --check-prefix=SHARED
// RUN: attn-run %s --entry gqa_step --random 2 --shape k=2x2x301x16 --values key_lengths=301,129 --key-tile 16 --strategy flash | FileCheck %s --check-prefix=PER-HEAD
// A window of 40 over 2 new rows spans 41 keys: at most ceil(41/16) + 1 = 4
// tiles per (batch row, K/V head) whatever the cache's length; with the
// lengths in the same place relative to the tiles, the same 16 tiles for
// caches of 200 and 20016.
// RUN: attn-run %s --entry gqa_window --random 4 --shape k=2x2x200x16 --values key_lengths=200,150 --key-tile 16 | FileCheck %s --check-prefix=WINDOW
// RUN: attn-run %s --entry gqa_window --random 4 --shape k=2x2x20016x16 --values key_lengths=20008,15014 --key-tile 16 | FileCheck %s --check-prefix=WINDOW
// RUN: attn-run %s --entry gqa_step --random 2 --shape k=2x2x301x16 --values key_lengths=301,129 --key-tile 16 --split-k 3 --check
// RUN: attn-run %s --entry mqa_rows --random 3 --shape k=2x1x97x16 --values key_lengths=2,97 --key-tile 16 --split-k 4 --check
// RUN: attn-run %s --entry gqa_window --random 4 --shape k=2x2x200x16 --values key_lengths=200,45 --key-tile 16 --split-k 2 --check
// RUN: attn-run %s --entry gqa_lse --random 5 --shape k=1x2x90x16 --values key_lengths=90 --key-tile 16 --split-k 3 --check
// RUN: attn-run %s --entry half_cache --random 6 --shape k=2x2x70x16 --values key_lengths=70,31 --key-tile 16 --split-k 2 --check
//
// The decode loop: a runtime K/V cache prefilled with ragged lengths, then
// steps of N tokens, each checked against the reference on the whole
// sequence. The rolling cache for window 40 keeps at most 48 positions and
// moves its last 39 to the front when full; a cache for a smaller window
// than the mask's loses positions the model still sees, and the check says
// so.
// RUN: attn-run %s --entry mha_step --decode-steps 6 --prefill 33,0,70 --shape k=3x4x100x16 --key-tile 16 --split-k 3 --random 1 | FileCheck %s --check-prefix=LOOP
// RUN: attn-run %s --entry gqa_step --decode-steps 5 --prefill 129,20 --shape k=2x2x160x16 --key-tile 16 --split-k 1 --random 2 | FileCheck %s --check-prefix=LOOP
// RUN: attn-run %s --entry mqa_rows --decode-steps 4 --prefill 1,30 --shape k=2x1x50x16 --key-tile 16 --random 3 | FileCheck %s --check-prefix=LOOP
// RUN: attn-run %s --entry gqa_window --decode-steps 30 --prefill 45,3 --shape k=2x2x48x16 --rolling-window 40 --key-tile 16 --split-k 2 --random 4 | FileCheck %s --check-prefix=ROLLING
// RUN: not attn-run %s --entry gqa_window --decode-steps 30 --prefill 45,3 --shape k=2x2x48x16 --rolling-window 30 --key-tile 16 --random 4 | FileCheck %s --check-prefix=TOO-SHORT
// RUN: not attn-run %s --entry gqa_window --decode-steps 2 --prefill 50 --shape k=2x2x48x16 --rolling-window 40 --random 4 2>&1 | FileCheck %s --check-prefix=OVERFLOW
//
// DECODE: "strategy": "decode"
// MHA-TILES: schedule: 60 tiles visited (52 full, 8 masked), 920 pairs computed for 908 attended
// SHARED: gqa_step (decode)
// SHARED: schedule: 56 tiles visited (52 full, 4 masked), 2670 pairs computed for 2580 attended
// PER-HEAD: schedule: 168 tiles visited (156 full, 12 masked), 2670 pairs computed for 2580 attended
// WINDOW: schedule: 16 tiles visited (8 full, 8 masked), {{[0-9]+}} pairs computed for 640 attended
// LOOP: decode {{.*}}: {{[0-9]+}} steps of {{[0-9]}} token{{s?}} after prefill {{.*}}: max error {{.*}} ok
// ROLLING: decode gqa_window: 30 steps of 2 tokens after prefill [45,3] (rolling cache for window 40, capacity 48): max error {{.*}} ok
// TOO-SHORT: decode gqa_window: {{.*}} FAILED
// OVERFLOW: attn-run: prefill: attn_kv_cache_append: batch row 0 keeps 0 positions and 50 more exceed the capacity 48 (a rolling cache for window 40 keeps the last window - 1)

// Multi-head: one row per task.
func.func @mha_step(%q: tensor<?x4x1x16xf32>, %k: tensor<?x4x?x16xf32>,
                    %v: tensor<?x4x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x1x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x4x1x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>,
         tensor<?xi32>) -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}

// Grouped-query, g = 3: the three heads of a group share each K/V tile.
func.func @gqa_step(%q: tensor<?x6x1x16xf32>, %k: tensor<?x2x?x16xf32>,
                    %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x6x1x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x6x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x6x1x16xf32>
  return %o : tensor<?x6x1x16xf32>
}

// Multi-query with 3 new rows per step (speculative or chunked decoding):
// the causal mask cuts between them, and a row whose position falls before
// the cache sees nothing (zeros).
func.func @mqa_rows(%q: tensor<?x5x3x16xf32>, %k: tensor<?x1x?x16xf32>,
                    %v: tensor<?x1x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x5x3x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) scale(0.3)
      : (tensor<?x5x3x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>,
         tensor<?xi32>) -> tensor<?x5x3x16xf32>
  return %o : tensor<?x5x3x16xf32>
}

// A sliding-window model: only the last 40 positions are visited.
func.func @gqa_window(%q: tensor<?x4x2x16xf32>, %k: tensor<?x2x?x16xf32>,
                      %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x2x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.window<left = 39, right = 0, alignment = bottom_right>)
      : (tensor<?x4x2x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x4x2x16xf32>
  return %o : tensor<?x4x2x16xf32>
}

// The log-sum-exp of each row, merged across the chunks as well.
func.func @gqa_lse(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>,
                   %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> (tensor<?x4x1x16xf32>, tensor<?x4x1xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> (tensor<?x4x1x16xf32>, tensor<?x4x1xf32>)
  return %o, %lse : tensor<?x4x1x16xf32>, tensor<?x4x1xf32>
}

// An f16 cache: each tile is widened to f32 as it is read.
func.func @half_cache(%q: tensor<?x4x1x16xf16>, %k: tensor<?x2x?x16xf16>,
                      %v: tensor<?x2x?x16xf16>, %len: tensor<?xi32>)
    -> tensor<?x4x1x16xf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x4x1x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>,
         tensor<?xi32>) -> tensor<?x4x1x16xf16>
  return %o : tensor<?x4x1x16xf16>
}
