// attn-run --stats reports what is deterministic about a run: the attended
// pairs, the FLOPs they cost, and the bytes the generated code allocated.
//
// RUN: attn-run %s --strategy materialized --random 1 --shape q=1x2x37x16 --shape k=1x2x37x16 --check --stats | FileCheck %s --check-prefix=MATERIALIZED
// RUN: attn-run %s --strategy flash --sequential --random 1 --shape q=1x2x37x16 --shape k=1x2x37x16 --check --stats | FileCheck %s --check-prefix=FLASH
// RUN: attn-run %s --strategy flash --sequential --random 1 --shape q=1x2x370x16 --shape k=1x2x370x16 --stats | FileCheck %s --check-prefix=FLASH-LONG
//
// Causal over N = S = 37 with H = 2 heads attends H * N (N + 1) / 2 = 1406
// pairs, each costing 2 (D + Dv) = 64 FLOPs: 89984 FLOPs.
// MATERIALIZED: "flops": 89984, "pairs": 1406,
// FLASH: "flops": 89984, "pairs": 1406,
//
// Every buffer is requested with 64 bytes of slack for its alignment.
//
// The materialized strategy holds the 2 x 37 x 37 f32 score matrix (10952
// bytes), the row max and row sum (296 bytes each), the weighted sum and the
// normalized result (4736 bytes each): 21016 + 5 * 64 = 21336 bytes.
// MATERIALIZED-SAME: "peak_bytes": 21336, "allocations": 5,
//
// The flash strategy (64 x 64 tiles, run on one core so that one task's
// buffers are live at a time) holds K packed into whole key tiles (2 heads
// x 1 tile x 16 x 64 f32: 8192 bytes), V's tail tiles (per head the key
// tile the valid keys cut, the rest of V being read in place: 8192 bytes)
// and, for a task, its 7
// tile buffers, allocated once before its loop over key tiles: the query
// tile and the accumulator (64 x 16: 4096 bytes each), a score tile
// (64 x 64: 16384), the running max and sum, the tile's row max and the
// rescaling factors (64 each: 256 bytes each); its output rows are
// normalized straight into the result: 41984 + 9 * 64 = 42560 bytes. 4
// buffers pack K and V (the packed K, V's tails, and for each of the 2
// packing tasks a K tile padded to whole rows; the packed tiles are written
// in place), 7 serve each of the 2 tasks.
// FLASH-SAME: "peak_bytes": 42560, "allocations": 18,
//
// Ten times longer, only the packed K grows (6 key tiles: 49152 bytes):
// 82944 + 9 * 64 = 83520 bytes, where the score matrix alone would take
// 2 x 370 x 370 x 4 = 1095200. Memory is O(N D), not O(N S).
// FLASH-LONG: "flops": 8.78528e+06, "pairs": 137270,
// FLASH-LONG-SAME: "peak_bytes": 83520,

func.func @causal(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}
