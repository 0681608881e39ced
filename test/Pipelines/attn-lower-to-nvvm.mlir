// RUN: attn-opt %s --attn-lower-to-nvvm | FileCheck %s
// RUN: attn-opt %s --attn-lower-to-nvvm="chip=sm_80 query-tile=64 key-tile=16" | FileCheck %s --check-prefix=SM80

// Host code in the LLVM dialect and one kernel image (PTX, by default) with
// every kernel of the module: the attention kernel and, for the layer, the
// projections, head splits and merges as kernels over device buffers. The
// runtime learns from _attn_module_target that the module needs a GPU.
// CHECK-LABEL: llvm.func @layer(
// CHECK-NOT: _mlir_memref_to_llvm_alloc
// CHECK: llvm.call @mgpuMemAlloc
// CHECK: gpu.launch_func  @attn_kernels::@layer_kernel
// CHECK: llvm.call @mgpuMemFree
// CHECK: gpu.binary @attn_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90">
// The attention kernel's shared memory and barriers, in the PTX.
// CHECK-SAME: .shared
// CHECK-SAME: bar.sync
// CHECK-LABEL: llvm.func @attention(
// CHECK: gpu.launch_func  @attn_kernels::@attention_kernel blocks in
// CHECK: llvm.mlir.global external constant @attn_module_signature(
// CHECK: llvm.func @_attn_entry_layer(
// CHECK: llvm.func @_attn_entry_attention(
// CHECK: llvm.mlir.global external constant @_attn_module_target("cuda\00")
// SM80: gpu.binary @attn_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80">
// SM80: .target sm_80

func.func @layer(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>,
                 %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>,
                 %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>,
         tensor<32x16xf32>, tensor<32x32xf32>) -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

func.func @attention(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x1x?x16xbf16>,
                     %v: tensor<?x1x?x16xbf16>) -> tensor<?x4x?x16xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      : (tensor<?x4x?x16xbf16>, tensor<?x1x?x16xbf16>, tensor<?x1x?x16xbf16>)
        -> tensor<?x4x?x16xbf16>
  return %o : tensor<?x4x?x16xbf16>
}
