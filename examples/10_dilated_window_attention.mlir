// A dilated sliding window (Beltagy et al. 2020), bidirectional as in the
// encoder it was built for: every 4th key within 256 positions either side,
// 129 keys a row over a span of 513. The compiler folds the 4 residue
// classes modulo 4 into the batch and runs one plain window of 32 + 32 over
// each (attn-decompose-sparse-masks), so the work is that of the 129 keys,
// not of the span. `attn-schedule` shows the tiles it visits.
//
// demo: --shape q=1x8x2048x64 --shape k=1x8x2048x64
func.func @dilated_window(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                          %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %out = attn.attention %q, %k, %v
      mask(#attn.window<left = 256, right = 256, alignment = top_left, dilation = 4>)
      : (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>)
        -> tensor<?x8x?x64xf32>
  return %out : tensor<?x8x?x64xf32>
}
