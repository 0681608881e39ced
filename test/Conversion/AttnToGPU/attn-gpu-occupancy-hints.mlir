// RUN: attn-opt %s --pass-pipeline="builtin.module(gpu.module(attn-gpu-occupancy-hints))" | FileCheck %s

// A kernel with warp-level mma keeps its tiles in registers: at least one
// block per multiprocessor (.minnctapersm 1), no occupancy target for
// ptxas's register budget. Other kernels and device functions are left
// alone.
// CHECK-LABEL: gpu.module @kernels
// CHECK: gpu.func @tiles(%{{.*}}) kernel attributes {nvvm.minctasm = 1 : i32}
// CHECK: gpu.func @plain(%{{.*}}) kernel {
// CHECK: gpu.func @helper(%{{.*}}) {
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @tiles(%a: i32) kernel {
      %c = arith.constant 0.0 : f32
      %d = nvvm.mma.sync A[%a, %a, %a, %a] B[%a, %a] C[%c, %c, %c, %c]
          {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
           multiplicandAPtxType = #nvvm.mma_type<bf16>,
           multiplicandBPtxType = #nvvm.mma_type<bf16>,
           shape = #nvvm.shape<m = 16, n = 8, k = 16>}
          : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
      gpu.return
    }
    gpu.func @plain(%a: i32) kernel {
      gpu.return
    }
    gpu.func @helper(%a: i32) {
      gpu.return
    }
  }
}
