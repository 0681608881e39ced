// A decode step (the decode strategy) whose name is also a C library
// function, step(3): LibraryTest loads it as a shared library and checks
// that the module's entry calls its own `step`.
func.func @step(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>,
                %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x1x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}
