// bf16 attention through the whole CPU pipeline: on a target with
// AVX512-BF16 (Zen 4 and later; any AVX-512 CPU given +avx512bf16) its
// products are vdpbf16ps on bf16 pairs, 16 f32 lanes; without it (plain
// x86-64-v4, AVX2) bf16 is widened to f32 and multiplied by FMAs.
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=znver4" | FileCheck %s --check-prefix=DOT
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=x86-64-v4 features=+avx512bf16" | FileCheck %s --check-prefix=DOT
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=x86-64-v4" | FileCheck %s --check-prefix=WIDENED
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=znver4 features=-avx512bf16" | FileCheck %s --check-prefix=WIDENED
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=x86-64-v3" | FileCheck %s --check-prefix=WIDENED

// DOT-NOT: x86vector.
// DOT: llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"({{.*}}) : (vector<16xf32>, vector<32xbf16>, vector<32xbf16>) -> vector<16xf32>
// WIDENED-NOT: dpbf16ps
// WIDENED: llvm.intr.fmuladd
// WIDENED-NOT: dpbf16ps
func.func @attention(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                     %v: tensor<?x2x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>)
        -> tensor<?x8x?x64xbf16>
  return %o : tensor<?x8x?x64xbf16>
}
