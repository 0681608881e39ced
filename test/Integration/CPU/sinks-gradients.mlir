// The gradients of attention with sinks (dq, dk, dv and the sinks' own,
// derived by attn-generate-gradients; the derivation is held to central
// differences in unittests/Integration/CPUIntegrationTest.cpp) compiled
// through the CPU pipeline against the float64 reference's gradients:
// grouped heads, key lengths with a 0 (rows whose weights are all the
// sink's: no gradient), the flash and materialized backwards, the strided
// pattern's decomposed backward, a sink far above the scores, and bf16.
//
// RUN: attn-opt %s --attn-generate-gradients -o %t.mlir
// RUN: attn-run %t.mlir --entry gqa_causal_backward --random 1 --shape q=2x6x37x16 --shape k=2x2x53x16 --values key_lengths=53,0 --values sinks=0.5,-1,2,8,0,-3 --check | FileCheck %s
// RUN: attn-run %t.mlir --entry gqa_causal_backward --random 2 --shape q=2x6x70x16 --shape k=2x2x70x16 --values key_lengths=61,9 --values sinks=1,1,-2,0,0.5,3 --strategy materialized --check | FileCheck %s
// RUN: attn-run %t.mlir --entry strided_backward --random 3 --shape q=1x4x120x8 --shape k=1x4x120x8 --values sinks=0.25,-0.5,1.5,3 --check
// bf16: dsinks is f32 but is summed from the forward's output rounded to
// bf16, so it gets bf16's tolerance.
// RUN: attn-run %t.mlir --entry bfloat_backward --random 4 --shape q=1x2x45x16 --shape k=1x2x60x16 --values sinks=1,-1 --check --tolerance 0.05
//
// CHECK: check dq [{{.*}}]: {{.*}} ok
// CHECK: check dk [{{.*}}]: {{.*}} ok
// CHECK: check dv [{{.*}}]: {{.*}} ok
// CHECK: check dsinks [6]: {{.*}} ok

func.func @gqa_causal(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                      %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>,
                      %sinks: tensor<6xf32>) -> tensor<?x6x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len) sinks(%sinks)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>, tensor<6xf32>) -> tensor<?x6x?x16xf32>
  return %o : tensor<?x6x?x16xf32>
}

func.func @strided(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                   %v: tensor<?x4x?x8xf32>, %sinks: tensor<4xf32>)
    -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v sinks(%sinks) mask(#attn.strided<stride = 6>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>,
         tensor<4xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @bfloat(%q: tensor<?x2x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                  %v: tensor<?x2x?x16xbf16>, %sinks: tensor<2xf32>)
    -> tensor<?x2x?x16xbf16> {
  %o = attn.attention %q, %k, %v sinks(%sinks) mask(#attn.causal<bottom_right>)
      : (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>,
         tensor<2xf32>) -> tensor<?x2x?x16xbf16>
  return %o : tensor<?x2x?x16xbf16>
}
