// RUN: attn-opt %s --attn-lower-to-nvvm | FileCheck %s
// RUN: attn-opt %s --attn-lower-to-nvvm="chip=sm_80 query-tile=64 key-tile=16" | FileCheck %s --check-prefix=SM80
// RUN: attn-opt %s --attn-lower-to-nvvm="tensor-cores=1" | FileCheck %s --check-prefix=TC
// RUN: attn-opt %s --attn-lower-to-nvvm="tensor-cores=1 chip=sm_80" | FileCheck %s --check-prefix=TC

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

// With tensor-cores the bf16 attention is the tensor-core kernel, launched
// with its dynamic shared memory; in its PTX the m16n8k16 bf16 mma, the
// transposing ldmatrix of V, cp.async with a wait for all but the newest
// group, exp2 on the MUFU, and at least one block per multiprocessor
// (registers not capped for occupancy). The f32 layer keeps the SIMT
// kernels.
// TC: gpu.binary @attn_kernels
// TC-DAG: .minnctapersm 1
// TC-DAG: .shared .align 16 .b8 __dynamic_shmem__0
// TC-DAG: cp.async.cg.shared.global
// TC-DAG: cp.async.wait_group \091;
// TC-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// TC-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// TC-DAG: ex2.approx.ftz.f32
// TC-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// TC-LABEL: llvm.func @attention(
// TC: gpu.launch_func  @attn_kernels::@attention_kernel {{.*}} dynamic_shared_memory_size

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
