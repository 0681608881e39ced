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
// RUN: attn-run %s --entry strided_bidirectional --random 9 --shape q=2x2x53x8 --shape k=2x2x47x8 --values key_lengths=47,20 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry strided_split_mha --random 10 --shape q=1x3x37x8 --shape k=1x3x41x8 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry fixed_bidirectional --random 11 --shape q=2x4x45x8 --shape k=2x1x50x8 --values key_lengths=50,23 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry blockwise_lse --random 12 --shape q=1x2x35x8 --shape k=1x2x40x8 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry blockwise_lse --random 12 --shape q=1x2x35x8 --shape k=1x2x40x8 --strategy materialized --check
// RUN: attn-run %s --entry combine_two --random 13 --shape q=2x2x21x8 --shape k=2x2x21x8 --shape k2=2x1x9x8 --check
// RUN: attn-run %s --entry blockwise_after --random 14 --shape q=2x2x30x8 --shape k=2x2x44x8 --values key_lengths=44,17 --query-tile 8 --key-tile 16 --check
// RUN: attn-run %s --entry strided_split_lse --random 15 --shape q=2x4x37x8 --shape k=2x2x41x8 --query-tile 8 --key-tile 16 --check

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

// Strided, bidirectional, both patterns in every head: three pieces (the
// band, and the residue classes' keys before and after the row) merged.
func.func @strided_bidirectional(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                                 %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x2x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.strided<stride = 5, bidirectional = true>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// Split over an odd number of heads, each with its own K/V head (sliced
// alike by parity).
func.func @strided_split_mha(%q: tensor<?x3x?x8xf32>, %k: tensor<?x3x?x8xf32>,
                             %v: tensor<?x3x?x8xf32>) -> tensor<?x3x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<stride = 4, split_heads = true>)
      : (tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>)
        -> tensor<?x3x?x8xf32>
  return %o : tensor<?x3x?x8xf32>
}

// Fixed, bidirectional, with padding: the own block, and the gathered
// summary keys of every other block.
func.func @fixed_bidirectional(%q: tensor<?x4x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                               %v: tensor<?x1x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.fixed<block = 6, summary = 2, bidirectional = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>,
         tensor<?xi32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// Block-causal attention (blocks of 8 rows see every key block up to
// theirs), and the log-sum-exp of each row as a second result.
func.func @blockwise_lse(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                         %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v
      mask(#attn.blockwise<query_block = 8, key_block = 8, relation = le>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>)
  return %o, %lse : tensor<?x2x?x8xf32>, tensor<?x2x?xf32>
}

// Attention over two key sets merged: equal to attention over both.
func.func @combine_two(%q: tensor<?x2x?x8xf32>, %k1: tensor<?x2x?x8xf32>,
                       %v1: tensor<?x2x?x8xf32>, %k2: tensor<?x1x?x8xf32>,
                       %v2: tensor<?x1x?x8xf32>)
    -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>) {
  %o1, %l1 = attn.attention %q, %k1, %v1
      mask(#attn.window<left = 3, right = 3, alignment = top_left>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>)
  %o2, %l2 = attn.attention %q, %k2, %v2
      : (tensor<?x2x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>)
  %o, %l = attn.combine (%o1, %o2) lse(%l1, %l2)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?xf32>,
         tensor<?x2x?xf32>) -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>)
  return %o, %l : tensor<?x2x?x8xf32>, tensor<?x2x?xf32>
}

// Blocks of 8 rows see their own block and every key block of 4 after it.
func.func @blockwise_after(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                           %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x2x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.union<[#attn.blockwise<query_block = 8, key_block = 4, relation = gt>,
                        #attn.blockwise<query_block = 8, key_block = 8, relation = eq>]>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// Split over heads with the log-sum-exp returned: both results placed back
// by head parity.
func.func @strided_split_lse(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                             %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) {
  %o, %l = attn.attention %q, %k, %v
      mask(#attn.strided<stride = 5, split_heads = true>)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>)
  return %o, %l : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}
