// Functions with ordinary tensor ops around the attention compile, run and
// check against the float64 reference, which evaluates those ops too.
// RUN: attn-run %s --entry residual --random 1 --shape q=2x2x70x16 --shape k=2x2x70x16 --check | FileCheck %s --check-prefix=RESIDUAL
// RESIDUAL: check out0 [2,2,70,16]: max error {{.*}} ok
// RUN: attn-run %s --entry block --random 2 --shape q=1x2x67x16 --shape k=1x2x67x16 --check | FileCheck %s --check-prefix=BLOCK
// BLOCK: check out0 [67,24]: max error {{.*}} ok
// RUN: attn-run %s --entry relu_generic --random 3 --shape q=1x2x9x16 --shape k=1x2x9x16 --check | FileCheck %s --check-prefix=GENERIC
// GENERIC: check out0 [1,2,9,16]: max error {{.*}} ok
// RUN: attn-run %s --entry bf16_residual --random 4 --shape q=1x2x33x16 --shape k=1x2x40x16 --check | FileCheck %s --check-prefix=BF16
// BF16: check out0 [1,2,33,16]: max error {{.*}} ok
// An input that only an elementwise op reads is not written: the result
// gets a buffer of its own (the check would see tanh(tanh(x)) otherwise,
// the reference running on the inputs after the call).
// RUN: attn-run %s --entry activation_of_input --random 5 --shape x=1x2x9x16 --shape q=1x2x9x16 --shape k=1x2x9x16 --check | FileCheck %s --check-prefix=READ-ONLY
// READ-ONLY: check out0 [1,2,9,16]: max error {{.*}} ok
//
// An op the reference does not know: --check names it; a run without
// --check still runs, its FLOPs unknown.
// RUN: not attn-run %s --entry unknown_op --random 5 --check 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: error: the float64 reference cannot evaluate 'tensor.pad'; it knows attn ops,
// UNKNOWN: attn-run: --check: the float64 reference cannot evaluate unknown_op
// RUN: attn-run %s --entry unknown_op --random 5 --stats | FileCheck %s --check-prefix=UNCHECKED
// UNCHECKED: unknown_op ({{.*}}): {{.*}} ms (FLOPs unknown: the reference does not evaluate every op)
// UNCHECKED: "flops": null

// A residual connection: the attention's output plus its query.
func.func @residual(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                    %v: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  %r = arith.addf %o, %q : tensor<?x2x?x16xf32>
  return %r : tensor<?x2x?x16xf32>
}

// Heads merged by a transpose and a reshape, projected by linalg.matmul
// onto a filled init, then a tanh.
func.func @block(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>,
                 %v: tensor<1x2x?x16xf32>, %w: tensor<32x24xf32>)
    -> tensor<?x24xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      : (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
        -> tensor<1x2x?x16xf32>
  %c2 = arith.constant 2 : index
  %n = tensor.dim %o, %c2 : tensor<1x2x?x16xf32>
  %e = tensor.empty(%n) : tensor<1x?x2x16xf32>
  %t = linalg.transpose ins(%o : tensor<1x2x?x16xf32>)
      outs(%e : tensor<1x?x2x16xf32>) permutation = [0, 2, 1, 3]
  %flat = tensor.collapse_shape %t [[0, 1], [2, 3]]
      : tensor<1x?x2x16xf32> into tensor<?x32xf32>
  %c0 = arith.constant 0 : index
  %rows = tensor.dim %flat, %c0 : tensor<?x32xf32>
  %init = tensor.empty(%rows) : tensor<?x24xf32>
  %zero = arith.constant 0.0 : f32
  %filled = linalg.fill ins(%zero : f32) outs(%init : tensor<?x24xf32>)
      -> tensor<?x24xf32>
  %y = linalg.matmul ins(%flat, %w : tensor<?x32xf32>, tensor<32x24xf32>)
      outs(%filled : tensor<?x24xf32>) -> tensor<?x24xf32>
  %a = math.tanh %y : tensor<?x24xf32>
  return %a : tensor<?x24xf32>
}

// A linalg.generic whose body the reference interprets: relu by a compare
// and a select.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @relu_generic(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>,
                        %v: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
        -> tensor<1x2x?x16xf32>
  %r = linalg.generic {indexing_maps = [#map, #map],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%o : tensor<1x2x?x16xf32>) outs(%o : tensor<1x2x?x16xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %zero = arith.constant 0.0 : f32
    %positive = arith.cmpf ogt, %x, %zero : f32
    %y = arith.select %positive, %x, %zero : f32
    linalg.yield %y : f32
  } -> tensor<1x2x?x16xf32>
  return %r : tensor<1x2x?x16xf32>
}

// bf16 in and out, the residual in f32.
func.func @bf16_residual(%q: tensor<1x2x?x16xbf16>, %k: tensor<1x2x?x16xbf16>,
                         %v: tensor<1x2x?x16xbf16>) -> tensor<1x2x?x16xbf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<1x2x?x16xbf16>, tensor<1x2x?x16xbf16>, tensor<1x2x?x16xbf16>)
        -> tensor<1x2x?x16xbf16>
  %o32 = arith.extf %o : tensor<1x2x?x16xbf16> to tensor<1x2x?x16xf32>
  %q32 = arith.extf %q : tensor<1x2x?x16xbf16> to tensor<1x2x?x16xf32>
  %sum = arith.addf %o32, %q32 : tensor<1x2x?x16xf32>
  %r = arith.truncf %sum : tensor<1x2x?x16xf32> to tensor<1x2x?x16xbf16>
  return %r : tensor<1x2x?x16xbf16>
}

// tensor.pad: compiled, but not known to the reference (static shapes: the
// signature does not follow a pad's sizes either).
func.func @unknown_op(%q: tensor<1x2x9x16xf32>, %k: tensor<1x2x9x16xf32>,
                      %v: tensor<1x2x9x16xf32>) -> tensor<1x2x10x16xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<1x2x9x16xf32>, tensor<1x2x9x16xf32>, tensor<1x2x9x16xf32>)
        -> tensor<1x2x9x16xf32>
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %o low[0, 0, 1, 0] high[0, 0, 0, 0] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x2x9x16xf32> to tensor<1x2x10x16xf32>
  return %p : tensor<1x2x10x16xf32>
}

// The activation reads an argument that nothing else reads.
func.func @activation_of_input(%x: tensor<1x2x?x16xf32>,
                               %q: tensor<1x2x?x16xf32>,
                               %k: tensor<1x2x?x16xf32>)
    -> tensor<1x2x?x16xf32> {
  %o = attn.attention %q, %k, %k
      : (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>)
        -> tensor<1x2x?x16xf32>
  %t = math.tanh %x : tensor<1x2x?x16xf32>
  %r = arith.addf %o, %t : tensor<1x2x?x16xf32>
  return %r : tensor<1x2x?x16xf32>
}
