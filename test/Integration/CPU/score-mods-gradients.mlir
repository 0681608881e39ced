// The gradients of attention with score modifiers (derived by
// attn-generate-gradients: the backward recomputes f(s) and multiplies dS
// by f'(s); the derivation is held to central differences in
// unittests/Integration/CPUIntegrationTest.cpp) compiled through the CPU
// pipeline against the float64 reference's gradients: soft-capping with
// logits beyond the cap (f' far from 1) and ALiBi, grouped heads, key
// lengths with a 0, N != S, the flash and materialized backwards, the
// strided pattern (decomposed for the cap, whole for ALiBi), with sinks,
// and bf16.
//
// RUN: attn-opt %s --attn-generate-gradients -o %t.mlir
// RUN: attn-run %t.mlir --entry softcap_backward --random 1 --shape q=2x6x37x16 --shape k=2x2x53x16 --values key_lengths=53,0 --check | FileCheck %s
// RUN: attn-run %t.mlir --entry softcap_backward --random 2 --shape q=2x6x70x16 --shape k=2x2x70x16 --values key_lengths=61,9 --strategy materialized --check | FileCheck %s
// RUN: attn-run %t.mlir --entry alibi_backward --random 3 --shape q=1x6x150x16 --shape k=1x2x201x16 --values key_lengths=190 --check | FileCheck %s
// RUN: attn-run %t.mlir --entry alibi_backward --random 4 --shape q=2x6x33x16 --shape k=2x2x41x16 --values key_lengths=41,5 --strategy materialized --check | FileCheck %s
// RUN: attn-run %t.mlir --entry strided_softcap_backward --random 5 --shape q=1x4x120x8 --shape k=1x4x120x8 --check
// RUN: attn-run %t.mlir --entry strided_alibi_sinks_backward --random 6 --shape q=1x4x120x8 --shape k=1x4x120x8 --values sinks=0.25,-0.5,1.5,3 --check
// RUN: attn-run %t.mlir --entry bfloat_backward --random 7 --shape q=1x2x45x16 --shape k=1x2x60x16 --check
//
// CHECK: check dq [{{.*}}]: {{.*}} ok
// CHECK: check dk [{{.*}}]: {{.*}} ok
// CHECK: check dv [{{.*}}]: {{.*}} ok

func.func @softcap(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                   %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x6x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len) scale(1.0)
      mask(#attn.causal<bottom_right>) score_mod(#attn.softcap<cap = 2.0>)
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x6x?x16xf32>
  return %o : tensor<?x6x?x16xf32>
}

func.func @alibi(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                 %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x6x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) score_mod(#attn.alibi<bottom_right>)
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x6x?x16xf32>
  return %o : tensor<?x6x?x16xf32>
}

func.func @strided_softcap(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                           %v: tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v scale(2.0) mask(#attn.strided<stride = 6>)
      score_mod(#attn.softcap<cap = 1.0>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @strided_alibi_sinks(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                               %v: tensor<?x4x?x8xf32>, %sinks: tensor<4xf32>)
    -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v sinks(%sinks) mask(#attn.strided<stride = 6>)
      score_mod(#attn.alibi<top_left>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>,
         tensor<4xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @bfloat(%q: tensor<?x2x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                  %v: tensor<?x2x?x16xbf16>) -> tensor<?x2x?x16xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      score_mod(#attn.softcap<cap = 1.0>)
      : (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>)
        -> tensor<?x2x?x16xbf16>
  return %o : tensor<?x2x?x16xbf16>
}
