// RUN: attn-opt %s --attn-gpu-device-buffers --split-input-file --verify-diagnostics | FileCheck %s

// Buffers the function allocates live on the device, each freed right after
// the last op of its block that uses it or a view of it; copies become
// linalg.copy (a kernel later). Allocation and free run on a stream that is
// waited for at once, as the GPU lowering requires.
// CHECK-LABEL: func.func @temporaries
// CHECK-NOT: memref.alloc
// CHECK: %[[S0:.*]] = gpu.wait async
// CHECK: %[[T:.*]], %[[A0:.*]] = gpu.alloc async [%[[S0]]] (%{{.*}}) : memref<?x16xf32>
// CHECK: gpu.wait [%[[A0]]]
// CHECK: linalg.copy ins(%{{.*}} : memref<?x16xf32>) outs(%[[T]] : memref<?x16xf32>)
// CHECK: %[[V:.*]] = memref.expand_shape %[[T]]
// CHECK: linalg.copy ins(%[[V]] : memref<?x4x4xf32>) outs(%{{.*}} : memref<?x4x4xf32>)
// CHECK: %[[S1:.*]] = gpu.wait async
// CHECK: %[[D:.*]] = gpu.dealloc async [%[[S1]]] %[[T]] : memref<?x16xf32>
// CHECK: gpu.wait [%[[D]]]
// CHECK-NEXT: return
// CHECK-NOT: memref.copy
func.func @temporaries(%x: memref<?x16xf32>, %out: memref<?x4x4xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %t = memref.alloc(%n) {alignment = 64 : i64} : memref<?x16xf32>
  memref.copy %x, %t : memref<?x16xf32> to memref<?x16xf32>
  %v = memref.expand_shape %t [[0], [1, 2]] output_shape [%n, 4, 4]
      : memref<?x16xf32> into memref<?x4x4xf32>
  memref.copy %v, %out : memref<?x4x4xf32> to memref<?x4x4xf32>
  return
}

// -----

// A buffer that leaves the function cannot be freed by it.
func.func @escapes(%n: index) -> memref<?xf32> {
  // expected-error @+1 {{a device buffer escapes its function}}
  %t = memref.alloc(%n) : memref<?xf32>
  return %t : memref<?xf32>
}
