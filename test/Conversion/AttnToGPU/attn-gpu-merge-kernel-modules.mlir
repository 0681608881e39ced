// RUN: attn-opt %s --attn-gpu-merge-kernel-modules | FileCheck %s

// Two outlined kernels end up in one gpu.module, attn_kernels; the launches
// follow them.
// CHECK: gpu.module @attn_kernels
// CHECK: gpu.func @first_kernel
// CHECK: gpu.func @second_kernel
// CHECK-NOT: gpu.module
// CHECK: func.func @host
// CHECK: gpu.launch_func @attn_kernels::@first_kernel
// CHECK: gpu.launch_func @attn_kernels::@second_kernel
module attributes {gpu.container_module} {
  gpu.module @first_kernel {
    gpu.func @first_kernel() kernel {
      gpu.return
    }
  }
  gpu.module @second_kernel {
    gpu.func @second_kernel() kernel {
      gpu.return
    }
  }
  func.func @host() {
    %c1 = arith.constant 1 : index
    gpu.launch_func @first_kernel::@first_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    gpu.launch_func @second_kernel::@second_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}
