// RUN: attn-opt %s --attn-export-signature --split-input-file --verify-diagnostics | FileCheck %s

// Dimensions the ops tie together share a symbol: B across q, k, v, the key
// lengths and the result; S between k and v, and bounding the key lengths.
// Static dimensions print as numbers. Names come from the operands' roles;
// private functions are not exported.

// CHECK: func.func @gqa({{.*}} attributes {llvm.emit_c_interface}
// CHECK-NOT: func.func @helper{{.*}}llvm.emit_c_interface
// CHECK: llvm.mlir.global external constant @attn_module_signature("attn-abi 1\0Agqa(q: f32[B,8,N,16], k: f32[B,2,S,16], v: f32[B,2,S,32], key_lengths: i32[B] <= S) -> (out: f32[B,8,N,32])\0A\00")
func.func @gqa(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x32xf32>, %len: tensor<?xi32>)
    -> tensor<?x8x?x32xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      : (tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x32xf32>,
         tensor<?xi32>) -> tensor<?x8x?x32xf32>
  return %o : tensor<?x8x?x32xf32>
}
func.func private @helper(%q: tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32> {
  return %q : tensor<1x1x1x1xf32>
}

// -----

// Self attention bounds the key lengths by N; an explicit attn.name
// overrides a role (on an argument or a result, where it is then removed:
// LLVM has no use for it); a static bound prints as its size.

// CHECK: func.func @layer({{.*}}) -> tensor<?x?x48xf32> attributes
// CHECK: @attn_module_signature("attn-abi 1\0Alayer(tokens: f32[B,N,64], wq: f32[64,64], wk: f32[64,32], wv: f32[64,32], wo: f32[64,48], key_lengths: i32[B] <= N) -> (y: f32[B,N,48])\0Afixed(q: f16[2,1,10,8], k: f16[2,1,12,8], v: f16[2,1,12,8], key_lengths: i32[2] <= 12) -> (out: f16[2,1,10,8])\0A\00")
func.func @layer(%x: tensor<?x?x64xf32> {attn.name = "tokens"},
                 %wq: tensor<64x64xf32>, %wk: tensor<64x32xf32>,
                 %wv: tensor<64x32xf32>, %wo: tensor<64x48xf32>,
                 %len: tensor<?xi32>) -> (tensor<?x?x48xf32> {attn.name = "y"}) {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo key_lengths(%len)
      heads(4) kv_heads(2)
      : (tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
         tensor<64x32xf32>, tensor<64x48xf32>, tensor<?xi32>)
        -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
func.func @fixed(%q: tensor<2x1x10x8xf16>, %k: tensor<2x1x12x8xf16>,
                 %v: tensor<2x1x12x8xf16>, %len: tensor<2xi32>)
    -> tensor<2x1x10x8xf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      : (tensor<2x1x10x8xf16>, tensor<2x1x12x8xf16>, tensor<2x1x12x8xf16>,
         tensor<2xi32>) -> tensor<2x1x10x8xf16>
  return %o : tensor<2x1x10x8xf16>
}

// -----

// Two ops in one function: their symbols are told apart, and an argument
// used twice keeps its first role.

// CHECK: @attn_module_signature("attn-abi 1\0Atwo(q: f32[B,1,N,8], k: f32[B,1,S,8], v: f32[B,1,S,8], q2: f32[B2,1,N2,8]) -> (out: f32[B,1,N,8], out2: f32[B2,1,N2,8])\0A\00")
func.func @two(%q: tensor<?x1x?x8xf32>, %k: tensor<?x1x?x8xf32>,
               %v: tensor<?x1x?x8xf32>, %q2: tensor<?x1x?x8xf32>)
    -> (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>) {
  %a = attn.attention %q, %k, %v
      : (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x1x?x8xf32>
  %b = attn.attention %q2, %q2, %q2
      : (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x1x?x8xf32>
  return %a, %b : tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>
}

// -----

// expected-error @+1 {{result #0 has a dynamic dimension 0 that no argument determines, so a caller could not allocate it}}
func.func @unknown_size(%a: tensor<2xf32>) -> tensor<?xf32> {
  %n = arith.constant 5 : index
  %t = tensor.empty(%n) : tensor<?xf32>
  return %t : tensor<?xf32>
}

// -----

// expected-error @+1 {{argument #0 has type 'index', which the runtime cannot pass: entry points take ranked tensors of f32, f16, bf16, f64, i32 or i64}}
func.func @scalar(%n: index) {
  return
}

// -----

// Ordinary tensor ops around the attention tie their sizes by their own
// semantics: an elementwise add keeps the shape, tensor.empty takes its
// sizes from tensor.dim, a transpose permutes, a collapse keeps a dimension
// that is alone in its group but for 1s, a matmul shares M and K.

// CHECK: @attn_module_signature("attn-abi 1\0Ablock(q: f32[1,2,N,16], k: f32[1,2,S,16], v: f32[1,2,S,16], arg3: f32[32,24]) -> (out0: f32[N,24])\0A\00")
func.func @block(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>,
                 %v: tensor<1x2x?x16xf32>, %w: tensor<32x24xf32>)
    -> tensor<?x24xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
        -> tensor<1x2x?x16xf32>
  %r = arith.addf %o, %q : tensor<1x2x?x16xf32>
  %c2 = arith.constant 2 : index
  %n = tensor.dim %r, %c2 : tensor<1x2x?x16xf32>
  %e = tensor.empty(%n) : tensor<1x?x2x16xf32>
  %t = linalg.transpose ins(%r : tensor<1x2x?x16xf32>)
      outs(%e : tensor<1x?x2x16xf32>) permutation = [0, 2, 1, 3]
  %flat = tensor.collapse_shape %t [[0, 1], [2, 3]]
      : tensor<1x?x2x16xf32> into tensor<?x32xf32>
  %c0 = arith.constant 0 : index
  %rows = tensor.dim %flat, %c0 : tensor<?x32xf32>
  %init = tensor.empty(%rows) : tensor<?x24xf32>
  %y = linalg.matmul ins(%flat, %w : tensor<?x32xf32>, tensor<32x24xf32>)
      outs(%init : tensor<?x24xf32>) -> tensor<?x24xf32>
  return %y : tensor<?x24xf32>
}

// -----

// A collapse of two dynamic dimensions is their product, which no symbol
// names: the diagnostic says which op it could not follow.

// expected-error @+1 {{result #0 has a dynamic dimension 0 that no argument determines, so a caller could not allocate it (the sizes are followed through attn ops, elementwise ops, linalg ops, tensor.empty, cast, expand_shape and collapse_shape, not through tensor.collapse_shape merging dynamic dimensions (their product has no symbol))}}
func.func @product(%q: tensor<?x1x?x8xf32>) -> tensor<?x8xf32> {
  %o = attn.attention %q, %q, %q
      : (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x1x?x8xf32>
  %flat = tensor.collapse_shape %o [[0, 1, 2], [3]]
      : tensor<?x1x?x8xf32> into tensor<?x8xf32>
  return %flat : tensor<?x8xf32>
}
