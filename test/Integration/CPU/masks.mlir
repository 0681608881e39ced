// The structured masks compiled for the CPU and checked against the float64
// reference, which restates every mask rule element by element. The
// integration tests (unittests/Integration, suite Masks) sweep each function
// over random shapes under both strategies and small tiles; these RUN lines
// check one shape each, with tiles small enough that the masks cut them
// every way (full, partial, skipped).
//
// RUN: attn-run %s --entry window_dilated --random 1 --shape q=2x2x45x8 --shape k=2x2x61x8 --values key_lengths=61,30 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry window_dilated --random 1 --shape q=2x2x45x8 --shape k=2x2x61x8 --values key_lengths=61,30 --strategy materialized --check
// RUN: attn-run %s --entry window_global --random 2 --shape q=2x2x57x8 --shape k=2x2x57x8 --values key_lengths=57,3 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry strided_causal --random 3 --shape q=1x4x66x8 --shape k=1x2x66x8 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry strided_split --random 4 --shape q=1x4x50x8 --shape k=1x2x43x8 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry fixed_causal --random 5 --shape q=2x4x70x8 --shape k=2x2x70x8 --values key_lengths=70,33 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry fixed_split --random 6 --shape q=1x4x39x8 --shape k=1x2x52x8 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry causal_and_dilated --random 7 --shape q=2x2x19x8 --shape k=2x2x64x8 --values key_lengths=64,40 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry strided_auto --random 8 --shape q=2x4x49x8 --check
// RUN: attn-run %s --entry strided_auto --random 8 --shape q=2x4x49x8 --strategy materialized --check

// Longformer's dilated window: every third key of pos - 12 .. pos + 6.
func.func @window_dilated(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                          %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x2x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.window<left = 12, right = 6, alignment = top_left, dilation = 3>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// A symmetric window with global tokens 0 and 5 (seen by all, seeing all).
func.func @window_global(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                         %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x2x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.union<[#attn.window<left = 4, right = 4, alignment = top_left>,
                        #attn.global<tokens = [0, 5]>]>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// The Sparse Transformer's strided pattern, autoregressive, both patterns in
// every head (the paper's merged variant).
func.func @strided_causal(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                          %v: tensor<?x2x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<stride = 5>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// Bidirectional, the two patterns split over the heads.
func.func @strided_split(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                         %v: tensor<?x2x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.strided<stride = 6, bidirectional = true, split_heads = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// The fixed pattern: own block of 8 and the last 2 keys of every block.
func.func @fixed_causal(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                        %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.fixed<block = 8, summary = 2>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @fixed_split(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                       %v: tensor<?x2x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.fixed<block = 7, summary = 3, bidirectional = true, split_heads = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// Decoding-style causal, intersected with a dilated window.
func.func @causal_and_dilated(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                              %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x2x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.intersection<[#attn.causal<bottom_right>,
          #attn.window<left = 10, right = 10, alignment = bottom_right, dilation = 2>]>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// The stride left to its default: ceil(sqrt(49)) = 7.
func.func @strided_auto(%q: tensor<2x4x?x8xf32>, %k: tensor<2x2x49x8xf32>,
                        %v: tensor<2x2x49x8xf32>) -> tensor<2x4x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<>)
      : (tensor<2x4x?x8xf32>, tensor<2x2x49x8xf32>, tensor<2x2x49x8xf32>)
        -> tensor<2x4x?x8xf32>
  return %o : tensor<2x4x?x8xf32>
}
