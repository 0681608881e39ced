// attn-run --stats reports what is deterministic about a run: the attended
// pairs, the FLOPs they cost, and the bytes the generated code allocated.
//
// RUN: attn-run %s --random 1 --shape q=1x2x37x16 --shape k=1x2x37x16 --check --stats | FileCheck %s
//
// Causal over N = S = 37 with H = 2 heads attends H * N (N + 1) / 2 = 1406
// pairs, each costing 2 (D + Dv) = 64 FLOPs: 89984 FLOPs.
// CHECK: "flops": 89984, "pairs": 1406,
//
// The materialized strategy holds the 2 x 37 x 37 f32 score matrix (10952
// bytes), the row max and row sum (296 bytes each), the weighted sum and the
// normalized result (4736 bytes each); every buffer is requested with 64
// bytes of slack for its alignment: 21016 + 5 * 64 = 21336 bytes at the peak.
// CHECK-SAME: "peak_bytes": 21336, "allocations": 5,

func.func @causal(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}
