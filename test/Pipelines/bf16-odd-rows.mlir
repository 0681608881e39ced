// bf16 rows of 8k + 1 elements (a head width of 9, 17, 33, ...) copied by
// the residue classes of a dilated window or a strided mask compile for a
// CPU with AVX512-BF16, whose LLVM 22 backend aborts on such vectors ("Do
// not know how to soft promote this operator's operand"): the copies stay
// loops. Found by scripts/fuzz-ir.py.
// RUN: attn-translate %s --cpu=znver4 -o %t.o
// RUN: attn-translate %s --cpu=sapphirerapids --strategy materialized -o %t.materialized.o
func.func @dilated(%q: tensor<?x1x?x9xbf16>) -> tensor<?x1x?x9xbf16> {
  %o = attn.attention %q, %q, %q
      mask(#attn.window<left = 2, right = 2, alignment = top_left, dilation = 2>)
      : (tensor<?x1x?x9xbf16>, tensor<?x1x?x9xbf16>, tensor<?x1x?x9xbf16>)
        -> tensor<?x1x?x9xbf16>
  return %o : tensor<?x1x?x9xbf16>
}
func.func @strided(%q: tensor<?x2x?x33xbf16>) -> tensor<?x2x?x33xbf16> {
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = 4>)
      : (tensor<?x2x?x33xbf16>, tensor<?x2x?x33xbf16>, tensor<?x2x?x33xbf16>)
        -> tensor<?x2x?x33xbf16>
  return %o : tensor<?x2x?x33xbf16>
}
