// RUN: attn-opt %s --pass-pipeline="builtin.module(gpu.module(attn-gpu-legalize-math))" --split-input-file --verify-diagnostics | FileCheck %s

// tanh is expanded through exp (which attn-approximate-exp2 computes next):
// NVPTX's instruction selection cannot select llvm.tanh and would abort.
// fma and erf stay: an intrinsic NVPTX selects, a libdevice call.

// CHECK-LABEL: gpu.func @activation
// CHECK-NOT:     math.tanh
// CHECK:         math.exp
// CHECK:         math.fma
// CHECK:         math.erf
gpu.module @kernels {
  gpu.func @activation(%x: f32, %out: memref<3xf32>) kernel {
    %t = math.tanh %x : f32
    %f = math.fma %t, %x, %x : f32
    %e = math.erf %f : f32
    %c0 = arith.constant 0 : index
    memref.store %e, %out[%c0] : memref<3xf32>
    gpu.return
  }
}

// -----

// sqrt would become llvm.intr.sqrt, which the NVVM lowering refuses: the
// diagnostic names the op.
gpu.module @kernels {
  gpu.func @norm(%x: f32, %out: memref<1xf32>) kernel {
    // expected-error @+1 {{the GPU kernels cannot compute 'math.sqrt' yet: the NVVM lowering takes it for a libdevice call, the lowering to LLVM before it for an intrinsic; it runs on the CPU (--target cpu)}}
    %s = math.sqrt %x : f32
    %c0 = arith.constant 0 : index
    memref.store %s, %out[%c0] : memref<1xf32>
    gpu.return
  }
}
