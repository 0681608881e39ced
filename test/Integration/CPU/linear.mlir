// Linear attention (attn.linear_attention) in each of its three forms,
// checked against the float64 reference, which computes the quadratic form
// phi(Q) phi(K)^T (masked, normalized) V directly and shares no code with the
// lowerings. Awkward sizes: N and S not multiples of the 16-token chunk,
// grouped heads, key lengths of 0 (a row that sees nothing gives 0), f16 and
// bf16 operands. The integration tests (unittests/Integration, suite
// Linear) sweep random shapes and continue a chunked prefill recurrently.
//
// Without a mask: parallel (the default), recurrent, and chunked (= parallel).
// RUN: attn-run %s --entry plain --random 1 --shape q=3x6x37x16 --shape k=3x2x53x16 --values key_lengths=53,0,20 --linear-chunk 16 --check | FileCheck %s --check-prefix=PLAIN
// RUN: attn-run %s --entry plain --random 1 --shape q=3x6x37x16 --shape k=3x2x53x16 --values key_lengths=53,0,20 --linear-form recurrent --check | FileCheck %s --check-prefix=PLAIN-REC
// PLAIN: check out [3,6,37,8]: {{.*}} ok
// PLAIN: plain (linear parallel)
// PLAIN-REC: check out [3,6,37,8]: {{.*}} ok
// PLAIN-REC: plain (linear recurrent)
//
// Causal, continuing a given state, with the final state as a result.
// RUN: attn-run %s --entry causal --random 2 --shape q=2x4x45x16 --values key_lengths=45,17 --linear-chunk 16 --check | FileCheck %s --check-prefix=CAUSAL
// RUN: attn-run %s --entry causal --random 2 --shape q=2x4x45x16 --values key_lengths=45,17 --linear-form recurrent --check | FileCheck %s --check-prefix=CAUSAL
// CAUSAL: check out [2,4,45,8]: {{.*}} ok
// CAUSAL: check final_state [2,2,16,9]: {{.*}} ok
//
// f16 and bf16 operands, relu and identity feature maps (all f32 inside).
// RUN: attn-run %s --entry half --random 3 --shape q=2x2x70x32 --values key_lengths=70,1 --linear-chunk 16 --check | FileCheck %s --check-prefix=HALF
// RUN: attn-run %s --entry half --random 3 --shape q=2x2x70x32 --values key_lengths=70,1 --linear-form recurrent --check | FileCheck %s --check-prefix=HALF
// HALF: check out [2,2,70,32]: {{.*}} ok
// RUN: attn-run %s --entry relu_bf16 --random 4 --shape q=1x4x33x16 --shape k=1x1x65x16 --check | FileCheck %s --check-prefix=RELU
// RELU: check out [1,4,33,16]: {{.*}} ok
// RUN: attn-run %s --entry identity --random 5 --shape q=2x2x19x8 --linear-chunk 16 --check | FileCheck %s --check-prefix=IDENTITY
// IDENTITY: check out [2,2,19,8]: {{.*}} ok
//
// The parallel form has no causal mask.
// RUN: not attn-run %s --entry causal --random 2 --shape q=2x4x45x16 --linear-form parallel 2>&1 | FileCheck %s --check-prefix=NO-PARALLEL
// NO-PARALLEL: the parallel form sums every key into one state and cannot apply a causal mask

func.func @plain(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                 %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x6x?x8xf32> {
  %o = attn.linear_attention %q, %k, %v key_lengths(%len)
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x6x?x8xf32>
  return %o : tensor<?x6x?x8xf32>
}

func.func @causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>,
                  %s0: tensor<?x2x16x9xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x2x16x9xf32>) {
  %o, %s = attn.linear_attention %q, %k, %v key_lengths(%len) state(%s0)
      causal
      : (tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>, tensor<?x2x16x9xf32>)
        -> (tensor<?x4x?x8xf32>, tensor<?x2x16x9xf32>)
  return %o, %s : tensor<?x4x?x8xf32>, tensor<?x2x16x9xf32>
}

func.func @half(%q: tensor<?x2x?x32xf16>, %k: tensor<?x2x?x32xf16>,
                %v: tensor<?x2x?x32xf16>, %len: tensor<?xi32>)
    -> tensor<?x2x?x32xf16> {
  %o = attn.linear_attention %q, %k, %v key_lengths(%len) causal
      : (tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>,
         tensor<?xi32>) -> tensor<?x2x?x32xf16>
  return %o : tensor<?x2x?x32xf16>
}

func.func @relu_bf16(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x1x?x16xbf16>,
                     %v: tensor<?x1x?x16xbf16>) -> tensor<?x4x?x16xbf16> {
  %o = attn.linear_attention %q, %k, %v feature_map(relu)
      : (tensor<?x4x?x16xbf16>, tensor<?x1x?x16xbf16>, tensor<?x1x?x16xbf16>)
        -> tensor<?x4x?x16xbf16>
  return %o : tensor<?x4x?x16xbf16>
}

func.func @identity(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                    %v: tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32> {
  %o = attn.linear_attention %q, %k, %v feature_map(identity) causal
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}
