// RUN: attn-translate %s --target cuda -o %t.ptx && FileCheck %s --check-prefix=PTX < %t.ptx
// RUN: not attn-translate %s --emit=ptx -o %t.bad 2>&1 | FileCheck %s --check-prefix=CPU
// RUN: not attn-translate %s --target cuda --gpu-chip gfx90a -o %t.bad.ptx 2>&1 | FileCheck %s --check-prefix=CHIP

// --target cuda with a .ptx output writes the module's one kernel image.
// PTX: .target sm_90
// PTX: .visible .entry sdpa_kernel(
// PTX: .shared

// CPU: attn-translate: --emit=ptx and --emit=cubin need --target cuda
// CHIP: attn-translate: --gpu-chip must name a compute capability such as sm_90, not 'gfx90a'

func.func @sdpa(%q: tensor<?x2x?x32xf16>, %k: tensor<?x2x?x32xf16>,
                %v: tensor<?x2x?x32xf16>) -> tensor<?x2x?x32xf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>)
        -> tensor<?x2x?x32xf16>
  return %o : tensor<?x2x?x32xf16>
}
