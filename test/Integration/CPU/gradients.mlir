// The backward pass (attn.attention_grad, by the flash strategy: the sizes
// are dynamic) checked against the float64 reference's gradients, which are
// written from the formulas and held to central differences
// (unittests/Reference/GradientTest.cpp). Each function computes the forward
// (out and lse, by the strategy chosen for it) and then the gradients of
// q, k and v for a random dout: sizes that are multiples of nothing, N != S,
// N = 1, key lengths with a 0 (those rows pass no gradient), grouped and
// multi-query heads (dk and dv sum over the group), every mask family.
//
// RUN: attn-run %s --entry plain --random 1 --shape q=2x4x37x16 --shape k=2x4x45x16 --check
// RUN: attn-run %s --entry plain --random 2 --shape q=1x4x1x16 --shape k=1x4x23x16 --check
// RUN: attn-run %s --entry causal_top_left --random 3 --shape q=2x6x29x8 --shape k=2x2x29x8 --values key_lengths=29,0 --check
// RUN: attn-run %s --entry causal_bottom_right --random 4 --shape q=2x8x13x8 --shape k=2x1x40x8 --values key_lengths=40,9 --check
// RUN: attn-run %s --entry window_global --random 5 --shape q=1x2x57x8 --shape k=1x2x57x8 --values key_lengths=50 --check
// RUN: attn-run %s --entry strided_split --random 6 --shape q=1x4x50x8 --shape k=1x2x43x8 --check
// RUN: attn-run %s --entry fixed_causal --random 7 --shape q=2x4x70x8 --shape k=2x4x70x8 --values key_lengths=70,33 --check
// RUN: attn-run %s --entry dilated --random 10 --shape q=2x3x61x8 --shape k=2x3x61x8 --values key_lengths=61,26 --check
// RUN: attn-run %s --entry strided_bidirectional --random 11 --shape q=1x4x47x8 --shape k=1x2x47x8 --check
// RUN: attn-run %s --entry fixed_bidirectional --random 12 --shape q=2x2x40x8 --shape k=2x1x40x8 --values key_lengths=40,22 --check
// RUN: attn-run %s --entry half --random 8 --shape q=2x3x21x16 --shape k=2x1x33x16 --check
// RUN: attn-run %s --entry bfloat --random 9 --shape q=1x2x19x16 --shape k=1x2x27x16 --check
//
// Deterministic: the gradients on one thread and on two are the same bits.
// RUN: env OMP_NUM_THREADS=1 attn-run %s --entry causal_top_left --random 3 --shape q=2x6x29x8 --shape k=2x2x29x8 --values key_lengths=29,7 --output dq=%t.dq1.npy --output dk=%t.dk1.npy --output dv=%t.dv1.npy
// RUN: env OMP_NUM_THREADS=2 attn-run %s --entry causal_top_left --random 3 --shape q=2x6x29x8 --shape k=2x2x29x8 --values key_lengths=29,7 --output dq=%t.dq2.npy --output dk=%t.dk2.npy --output dv=%t.dv2.npy
// RUN: cmp %t.dq1.npy %t.dq2.npy
// RUN: cmp %t.dk1.npy %t.dk2.npy
// RUN: cmp %t.dv1.npy %t.dv2.npy
//
// The `// -----` lines mean nothing to attn-run; they make each function a
// seed of its own for scripts/fuzz-ir.py (translating all of them at once
// takes about 20 s).

func.func @plain(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                 %v: tensor<?x4x?x16xf32>, %dout: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) {
  %o, %lse = attn.attention %q, %k, %v
      : (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>)
        -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      : (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>,
         tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?xf32>)
        -> (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>)
  return %dq, %dk, %dv
      : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
}

// -----

// Grouped-query, g = 3.
func.func @causal_top_left(%q: tensor<?x6x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                           %v: tensor<?x2x?x8xf32>, %dout: tensor<?x6x?x8xf32>,
                           %key_lengths: tensor<?xi32>)
    -> (tensor<?x6x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%key_lengths)
      mask(#attn.causal<top_left>)
      : (tensor<?x6x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> (tensor<?x6x?x8xf32>, tensor<?x6x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      key_lengths(%key_lengths) mask(#attn.causal<top_left>)
      : (tensor<?x6x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?x6x?x8xf32>, tensor<?x6x?x8xf32>, tensor<?x6x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x6x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
  return %dq, %dk, %dv
      : tensor<?x6x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

// -----

// Multi-query (g = 8), a decoder's queries against a longer cache.
func.func @causal_bottom_right(%q: tensor<?x8x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                               %v: tensor<?x1x?x8xf32>,
                               %dout: tensor<?x8x?x8xf32>,
                               %key_lengths: tensor<?xi32>)
    -> (tensor<?x8x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%key_lengths)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>,
         tensor<?xi32>) -> (tensor<?x8x?x8xf32>, tensor<?x8x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      key_lengths(%key_lengths) mask(#attn.causal<bottom_right>)
      : (tensor<?x8x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>,
         tensor<?x8x?x8xf32>, tensor<?x8x?x8xf32>, tensor<?x8x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x8x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
  return %dq, %dk, %dv
      : tensor<?x8x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>
}

// -----

// Longformer: a dilated window and global tokens.
func.func @window_global(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                         %v: tensor<?x2x?x8xf32>, %dout: tensor<?x2x?x8xf32>,
                         %key_lengths: tensor<?xi32>)
    -> (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%key_lengths)
      mask(#attn.union<[#attn.window<left = 12, right = 6, alignment = top_left, dilation = 3>,
                        #attn.global<tokens = [0, 5]>]>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      key_lengths(%key_lengths)
      mask(#attn.union<[#attn.window<left = 12, right = 6, alignment = top_left, dilation = 3>,
                        #attn.global<tokens = [0, 5]>]>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
  return %dq, %dk, %dv
      : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

// -----

// The Sparse Transformer's strided pattern, split over the heads.
func.func @strided_split(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                         %v: tensor<?x2x?x8xf32>, %dout: tensor<?x4x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v
      mask(#attn.strided<stride = 7, split_heads = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      mask(#attn.strided<stride = 7, split_heads = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?xf32>)
        -> (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
  return %dq, %dk, %dv
      : tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

// -----

// The fixed pattern, both parts in every head.
func.func @fixed_causal(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                        %v: tensor<?x4x?x8xf32>, %dout: tensor<?x4x?x8xf32>,
                        %key_lengths: tensor<?xi32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%key_lengths)
      mask(#attn.fixed<block = 10, summary = 2>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>,
         tensor<?xi32>) -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      key_lengths(%key_lengths) mask(#attn.fixed<block = 10, summary = 2>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>,
         tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>)
  return %dq, %dk, %dv
      : tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>
}

// -----

// A dilated window alone: residue classes of the rows and keys.
func.func @dilated(%q: tensor<?x3x?x8xf32>, %k: tensor<?x3x?x8xf32>,
    %v: tensor<?x3x?x8xf32>, %dout: tensor<?x3x?x8xf32>, %key_lengths: tensor<?xi32>)
    -> (tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%key_lengths) mask(#attn.window<left = 12, right = 0, alignment = top_left, dilation = 4>)
      : (tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?xi32>)
        -> (tensor<?x3x?x8xf32>, tensor<?x3x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      key_lengths(%key_lengths) mask(#attn.window<left = 12, right = 0, alignment = top_left, dilation = 4>)
      : (tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>,
         tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>)
  return %dq, %dk, %dv : tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>
}

// -----

// The strided pattern in both directions, every part in every head: a band
// and two residue-class pieces, whose gradients add up per key.
func.func @strided_bidirectional(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
    %v: tensor<?x2x?x8xf32>, %dout: tensor<?x4x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.strided<stride = 6, bidirectional = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      mask(#attn.strided<stride = 6, bidirectional = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?xf32>)
        -> (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
  return %dq, %dk, %dv : tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

// -----

// The fixed pattern in both directions: the own block and the gathered
// summary keys of the other blocks, scattered back.
func.func @fixed_bidirectional(%q: tensor<?x2x?x8xf32>, %k: tensor<?x1x?x8xf32>,
    %v: tensor<?x1x?x8xf32>, %dout: tensor<?x2x?x8xf32>, %key_lengths: tensor<?xi32>)
    -> (tensor<?x2x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%key_lengths) mask(#attn.fixed<block = 9, summary = 3, bidirectional = true>)
      : (tensor<?x2x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?xi32>)
        -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      key_lengths(%key_lengths) mask(#attn.fixed<block = 9, summary = 3, bidirectional = true>)
      : (tensor<?x2x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>,
         tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x2x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
  return %dq, %dk, %dv : tensor<?x2x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>
}

// -----

func.func @half(%q: tensor<?x3x?x16xf16>, %k: tensor<?x1x?x16xf16>,
                %v: tensor<?x1x?x16xf16>, %dout: tensor<?x3x?x16xf16>)
    -> (tensor<?x3x?x16xf16>, tensor<?x1x?x16xf16>, tensor<?x1x?x16xf16>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      : (tensor<?x3x?x16xf16>, tensor<?x1x?x16xf16>, tensor<?x1x?x16xf16>)
        -> (tensor<?x3x?x16xf16>, tensor<?x3x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      mask(#attn.causal<bottom_right>)
      : (tensor<?x3x?x16xf16>, tensor<?x1x?x16xf16>, tensor<?x1x?x16xf16>,
         tensor<?x3x?x16xf16>, tensor<?x3x?x16xf16>, tensor<?x3x?xf32>)
        -> (tensor<?x3x?x16xf16>, tensor<?x1x?x16xf16>, tensor<?x1x?x16xf16>)
  return %dq, %dk, %dv
      : tensor<?x3x?x16xf16>, tensor<?x1x?x16xf16>, tensor<?x1x?x16xf16>
}

// -----

func.func @bfloat(%q: tensor<?x2x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                  %v: tensor<?x2x?x16xbf16>, %dout: tensor<?x2x?x16xbf16>)
    -> (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>,
        tensor<?x2x?x16xbf16>) {
  %o, %lse = attn.attention %q, %k, %v
      : (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>)
        -> (tensor<?x2x?x16xbf16>, tensor<?x2x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      : (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>,
         tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?xf32>)
        -> (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>,
            tensor<?x2x?x16xbf16>)
  return %dq, %dk, %dv
      : tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>
}
