// Longformer's window with global tokens (Beltagy et al. 2020): 64 keys
// either side of every position, and positions 0 and 1 (a [CLS] token and a
// question, say) see every key and are seen by every query. Padded keys
// beyond each row's key length are excluded. The query tile holding a
// global row visits every key tile; the others visit their band and the
// tile of the global keys.
//
// demo: --shape q=2x8x2048x64 --shape k=2x8x2048x64 --values key_lengths=2048,1900
func.func @global_window(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                         %v: tensor<?x8x?x64xf32>, %key_lengths: tensor<?xi32>)
    -> tensor<?x8x?x64xf32> {
  %out = attn.attention %q, %k, %v key_lengths(%key_lengths)
      mask(#attn.union<[#attn.window<left = 64, right = 64, alignment = top_left>,
                        #attn.global<tokens = [0, 1]>]>)
      : (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>,
         tensor<?xi32>) -> tensor<?x8x?x64xf32>
  return %out : tensor<?x8x?x64xf32>
}
