// RUN: attn-opt %s --attn-lower-attention-to-gpu --split-input-file --verify-diagnostics | FileCheck %s

// The flash backward as two kernels (SIMTGradientKernels.cpp). First the
// row dots dd = rowsum(dout * out) in f32, an ordinary loop nest; then the
// three gradients as fresh buffers in the operands' type, and nothing else
// allocated (no N x S buffer).
// CHECK-LABEL: func.func @gqa_causal
// CHECK-DAG: %[[LN2:.*]] = arith.constant 0.693147182 : f32
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<?x6x?x8xbf16>, tensor<?x6x?x8xbf16>) outs(%{{.*}} : tensor<?x6x?xf32>)
// CHECK: %[[DQ:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x6x?x8xbf16>
// CHECK: %[[DK:.*]] = memref.alloc(%{{.*}}, %[[S:.*]]) : memref<?x2x?x8xbf16>
// CHECK: %[[DV:.*]] = memref.alloc(%{{.*}}, %[[S]]) : memref<?x2x?x8xbf16>
// CHECK-NOT: memref.alloc
//
// The key kernel: a block per (tile of 128 keys, K/V head, batch row), a
// thread per key; R = 32 staged rows of q' and dout, their lse2 and dd in
// shared memory; k, v, dk and dv of the thread's key in private memory.
// CHECK: %[[KEY_TILES:.*]] = arith.ceildivsi %[[S]], %[[C128]]
// CHECK: gpu.launch blocks(%[[KT:[a-z0-9]+]], %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) in (%{{[a-z0-9]+}} = %[[KEY_TILES]], %{{[a-z0-9]+}} = %[[C2]], %{{[a-z0-9]+}} = %{{[a-z0-9_]+}}) threads(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) in (%{{[a-z0-9]+}} = %[[C128]],
// CHECK-SAME: workgroup(%[[QT:[a-z0-9]+]] : memref<32x8xf32, #gpu.address_space<workgroup>>, %[[GT:[a-z0-9]+]] : memref<32x8xf32, #gpu.address_space<workgroup>>, %[[STATS:[a-z0-9]+]] : memref<2x32xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: private(%{{[a-z0-9]+}} : memref<8xf32, #gpu.address_space<private>>, %{{[a-z0-9]+}} : memref<8xf32, #gpu.address_space<private>>, %{{[a-z0-9]+}} : memref<8xf32, #gpu.address_space<private>>, %{{[a-z0-9]+}} : memref<8xf32, #gpu.address_space<private>>)
// The group's three query heads in order, then the query tiles whose
// forward schedule visits this key tile (causal: those at or below it).
// CHECK: scf.for %{{.*}} = %c0 to %[[C3]] step %c1 {
// CHECK: scf.for
// CHECK: %[[VISITS:.*]] = arith.andi
// CHECK: scf.if %[[VISITS]] {
// CHECK-NEXT: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[QT]]
// CHECK: memref.store %{{.*}}, %[[GT]]
// CHECK: memref.store %{{.*}}, %[[STATS]]
// CHECK: gpu.barrier
// p = exp2(q'.k - lse2) where visible, ds = p (dp - dd) where visible (both
// selected, never multiplied by a hidden key's values), dv += p dout,
// dk += ds q'.
// CHECK: math.fma
// CHECK: %[[P:.*]] = arith.select %[[VISIBLE:.*]], %{{.*}}, %{{.*}} : f32
// CHECK: arith.subf
// CHECK: arith.mulf %[[P]]
// CHECK: %[[DS:.*]] = arith.select %[[VISIBLE]], %{{.*}}, %{{.*}} : f32
// CHECK: math.fma %[[P]]
// CHECK: math.fma %[[DS]]
// dk = ln 2 sum ds q'.
// CHECK: arith.mulf %{{.*}}, %[[LN2]] : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.store %{{.*}}, %[[DK]]
// CHECK: memref.store %{{.*}}, %[[DV]]
// CHECK: gpu.terminator
//
// The query kernel: a block per (tile of 128 rows, query head, batch row),
// K/V tiles of 32 keys staged as in the forward kernel; dq of the thread's
// row in private memory.
// CHECK: gpu.launch blocks(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) in (%{{[a-z0-9]+}} = %{{[a-z0-9]+}}, %{{[a-z0-9]+}} = %[[C6]], %{{[a-z0-9]+}} = %{{[a-z0-9_]+}})
// CHECK-SAME: workgroup(%{{[a-z0-9]+}} : memref<32x8xf32, #gpu.address_space<workgroup>>, %{{[a-z0-9]+}} : memref<32x8xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: private(%{{[a-z0-9]+}} : memref<8xf32, #gpu.address_space<private>>, %{{[a-z0-9]+}} : memref<8xf32, #gpu.address_space<private>>, %{{[a-z0-9]+}} : memref<8xf32, #gpu.address_space<private>>)
// The valid keys of the batch row, clamp(len, 0, S); the staged K and V
// tiles hold zeros past them, not the padding (0 * NaN in dq += ds k is not
// 0).
// CHECK: memref.load %{{.*}} : memref<?xi32
// CHECK: %[[VALID:.*]] = arith.minsi %{{.*}}, %[[S]]
// CHECK: gpu.barrier
// CHECK: arith.cmpi slt, %{{.*}}, %[[VALID]]
// CHECK: arith.cmpi slt, %{{.*}}, %[[VALID]]
// CHECK: gpu.barrier
// CHECK: math.exp2
// CHECK: arith.select
// CHECK: memref.store %{{.*}}, %[[DQ]]
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[DQ]] restrict writable
// CHECK: bufferization.to_tensor %[[DK]] restrict writable
// CHECK: bufferization.to_tensor %[[DV]] restrict writable
// CHECK-NOT: attn.attention_grad
func.func @gqa_causal(%q: tensor<?x6x?x8xbf16>, %k: tensor<?x2x?x8xbf16>,
                      %v: tensor<?x2x?x8xbf16>, %o: tensor<?x6x?x8xbf16>,
                      %do: tensor<?x6x?x8xbf16>, %lse: tensor<?x6x?xf32>,
                      %len: tensor<?xi32>)
    -> (tensor<?x6x?x8xbf16>, tensor<?x2x?x8xbf16>, tensor<?x2x?x8xbf16>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      key_lengths(%len) mask(#attn.causal<top_left>) {attn.strategy = "flash"}
      : (tensor<?x6x?x8xbf16>, tensor<?x2x?x8xbf16>, tensor<?x2x?x8xbf16>,
         tensor<?x6x?x8xbf16>, tensor<?x6x?x8xbf16>, tensor<?x6x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x6x?x8xbf16>, tensor<?x2x?x8xbf16>, tensor<?x2x?x8xbf16>)
  return %dq, %dk, %dv
      : tensor<?x6x?x8xbf16>, tensor<?x2x?x8xbf16>, tensor<?x2x?x8xbf16>
}

// -----

// The materialized strategy's backward is left to attn-materialize-attention.
// CHECK-LABEL: func.func @materialized
// CHECK-NOT: gpu.launch
// CHECK: attn.attention_grad
func.func @materialized(%q: tensor<1x1x4x8xf32>, %k: tensor<1x1x4x8xf32>,
                        %v: tensor<1x1x4x8xf32>, %o: tensor<1x1x4x8xf32>,
                        %do: tensor<1x1x4x8xf32>, %lse: tensor<1x1x4xf32>)
    -> (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      {attn.strategy = "materialized"}
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>,
         tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
        -> (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
  return %dq, %dk, %dv
      : tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>
}

// -----

func.func @wide_head(%q: tensor<1x1x4x512xf32>, %k: tensor<1x1x4x512xf32>,
                     %v: tensor<1x1x4x8xf32>, %o: tensor<1x1x4x8xf32>,
                     %do: tensor<1x1x4x8xf32>, %lse: tensor<1x1x4xf32>)
    -> (tensor<1x1x4x512xf32>, tensor<1x1x4x512xf32>, tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{the GPU kernels take head widths up to 256, not D = 512 and Dv = 8; the CPU takes any width}}
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      {attn.strategy = "flash"}
      : (tensor<1x1x4x512xf32>, tensor<1x1x4x512xf32>, tensor<1x1x4x8xf32>,
         tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
        -> (tensor<1x1x4x512xf32>, tensor<1x1x4x512xf32>, tensor<1x1x4x8xf32>)
  return %dq, %dk, %dv
      : tensor<1x1x4x512xf32>, tensor<1x1x4x512xf32>, tensor<1x1x4x8xf32>
}
