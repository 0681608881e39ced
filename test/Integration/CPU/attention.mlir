// attn.attention compiled for the CPU and run through the runtime on random
// inputs, every output compared with the float64 reference (exit 1 beyond the
// tolerance). The functions below are also swept over many random shapes by
// the integration tests (unittests/Integration); these RUN lines exercise
// attn-run on the cases that matter most.
//
// N != S and sizes that are multiples of nothing:
// RUN: attn-run %s --entry mha --random 1 --shape q=2x4x37x16 --shape k=2x4x53x16 --check
//
// Multi-query decoding, causal bottom-right, with key lengths: the row whose
// key length is 0 and the queries that sit before the first key see nothing
// and are 0 (the check fails on NaN):
// RUN: attn-run %s --entry mqa_decode --random 8 --shape q=3x4x5x16 --shape k=3x1x70x16 --values key_lengths=3,70,0 --check
//
// A symmetric window over padded rows:
// RUN: attn-run %s --entry window_padded --random 10 --shape q=2x2x41x16 --shape k=2x2x41x16 --values key_lengths=41,17 --check
//
// Static shapes with a static bound on the key lengths, which the runtime
// checks before calling (12 is the largest valid length):
// RUN: attn-run %s --entry fixed --random 15 --values key_lengths=12,0 --check
// RUN: not attn-run %s --entry fixed --random 15 --values key_lengths=13,0 2>&1 | FileCheck %s --check-prefix=BOUND
// BOUND: argument 'key_lengths' (input 3) has value 13 at index [0], outside [0, 12 = 12] (static)
//
// Half precision in and out, f32 inside:
// RUN: attn-run %s --entry half --random 16 --shape q=2x4x19x16 --shape k=2x2x23x16 --check
// RUN: attn-run %s --entry bfloat --random 17 --shape q=1x2x33x8 --shape k=1x2x33x8 --check
//
// bf16 on a machine with AVX512-BF16 multiplies bf16 pairs (vdpbf16ps), here
// with groups, key lengths (one 0), Dv != D and an odd key count; an odd D
// has no whole pairs and is widened to f32 instead:
// RUN: attn-run %s --entry bfloat_gqa --random 18 --shape q=2x6x45x16 --shape k=2x2x67x16 --values key_lengths=67,0 --check
// RUN: attn-run %s --entry bfloat_odd --random 19 --shape q=1x1x9x7 --shape k=1x1x21x7 --check

func.func @mha(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
               %v: tensor<?x4x?x24xf32>) -> tensor<?x4x?x24xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x24xf32>)
        -> tensor<?x4x?x24xf32>
  return %o : tensor<?x4x?x24xf32>
}

func.func @gqa_causal(%q: tensor<?x6x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                      %v: tensor<?x2x?x8xf32>) -> tensor<?x6x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x6x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x6x?x8xf32>
  return %o : tensor<?x6x?x8xf32>
}

func.func @mqa_decode(%q: tensor<?x4x?x16xf32>, %k: tensor<?x1x?x16xf32>,
                      %v: tensor<?x1x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x4x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>,
         tensor<?xi32>) -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

func.func @window_padded(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                         %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.window<left = 5, right = 5, alignment = top_left>)
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}

func.func @window_decode(%q: tensor<?x3x?x8xf32>, %k: tensor<?x3x?x8xf32>,
                         %v: tensor<?x3x?x8xf32>) -> tensor<?x3x?x8xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.window<left = 7, right = 0, alignment = bottom_right>)
      : (tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>)
        -> tensor<?x3x?x8xf32>
  return %o : tensor<?x3x?x8xf32>
}

func.func @scaled(%q: tensor<?x1x?x12xf32>, %k: tensor<?x1x?x12xf32>,
                  %v: tensor<?x1x?x12xf32>) -> tensor<?x1x?x12xf32> {
  %o = attn.attention %q, %k, %v scale(3.0)
      : (tensor<?x1x?x12xf32>, tensor<?x1x?x12xf32>, tensor<?x1x?x12xf32>)
        -> tensor<?x1x?x12xf32>
  return %o : tensor<?x1x?x12xf32>
}

func.func @fixed(%q: tensor<2x2x10x8xf32>, %k: tensor<2x1x12x8xf32>,
                 %v: tensor<2x1x12x8xf32>, %len: tensor<2xi32>)
    -> tensor<2x2x10x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<2x2x10x8xf32>, tensor<2x1x12x8xf32>, tensor<2x1x12x8xf32>,
         tensor<2xi32>) -> tensor<2x2x10x8xf32>
  return %o : tensor<2x2x10x8xf32>
}

func.func @half(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>,
                %v: tensor<?x2x?x16xf16>) -> tensor<?x4x?x16xf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      : (tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>)
        -> tensor<?x4x?x16xf16>
  return %o : tensor<?x4x?x16xf16>
}

func.func @bfloat(%q: tensor<?x2x?x8xbf16>, %k: tensor<?x2x?x8xbf16>,
                  %v: tensor<?x2x?x8xbf16>) -> tensor<?x2x?x8xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.window<left = 4, right = 2, alignment = top_left>)
      : (tensor<?x2x?x8xbf16>, tensor<?x2x?x8xbf16>, tensor<?x2x?x8xbf16>)
        -> tensor<?x2x?x8xbf16>
  return %o : tensor<?x2x?x8xbf16>
}

func.func @bfloat_gqa(%q: tensor<?x6x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                      %v: tensor<?x2x?x24xbf16>, %key_lengths: tensor<?xi32>)
    -> tensor<?x6x?x24xbf16> {
  %o = attn.attention %q, %k, %v key_lengths(%key_lengths)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x6x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x24xbf16>,
         tensor<?xi32>) -> tensor<?x6x?x24xbf16>
  return %o : tensor<?x6x?x24xbf16>
}

func.func @bfloat_odd(%q: tensor<?x1x?x7xbf16>, %k: tensor<?x1x?x7xbf16>,
                      %v: tensor<?x1x?x7xbf16>) -> tensor<?x1x?x7xbf16> {
  %o = attn.attention %q, %k, %v scale(0.3)
      : (tensor<?x1x?x7xbf16>, tensor<?x1x?x7xbf16>, tensor<?x1x?x7xbf16>)
        -> tensor<?x1x?x7xbf16>
  return %o : tensor<?x1x?x7xbf16>
}
