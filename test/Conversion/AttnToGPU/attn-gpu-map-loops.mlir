// RUN: attn-opt %s --attn-gpu-map-loops=block-size=64 | FileCheck %s

// The outermost parallel nest is collapsed to one index and cut into blocks
// of 64 threads (block x, thread x), the last block guarded; the parallel
// loop nested in the sequential reduction loop becomes an scf.for that each
// thread runs.
// CHECK-LABEL: func.func @nest
// CHECK: %[[TOTAL:.*]] = arith.muli %{{.*}}, %c3
// CHECK: %[[BLOCK:.*]] = arith.muli %{{.*}}, %c64
// CHECK: scf.parallel (%[[BLK:.*]]) = (%{{.*}}) to (%[[TOTAL]]) step (%[[BLOCK]])
// CHECK: scf.parallel (%[[T:.*]]) = (%{{.*}}) to (%[[BLOCK]]) step
// CHECK: arith.cmpi ult, %{{.*}}, %[[TOTAL]]
// CHECK: scf.if
// CHECK: scf.for %{{.*}} = %c0 to %c12 step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1
// CHECK: memref.load
// CHECK: mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]
// CHECK: mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]
func.func @nest(%a: memref<4x3x12x8xf32>, %b: memref<4x3x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c12 = arith.constant 12 : index
  scf.parallel (%i, %h) = (%c0, %c0) to (%c4, %c3) step (%c1, %c1) {
    scf.for %k = %c0 to %c12 step %c1 {
      scf.parallel (%j) = (%c0) to (%c8) step (%c1) {
        %x = memref.load %a[%i, %h, %k, %j] : memref<4x3x12x8xf32>
        memref.store %x, %b[%i, %h, %j] : memref<4x3x8xf32>
        scf.reduce
      }
    }
    scf.reduce
  }
  return
}
