// RUN: attn-opt %s --attn-cpu-vectorize-tiles --split-input-file | FileCheck %s

// A product of static tiles: column strips of two vectors outermost, blocks
// of 6 rows (and a tail block of the remaining 2), 12 accumulators carried
// through the reduction, one B row (two vector loads) and one broadcast of A
// per row and step. The zero fill before it becomes zero accumulators.
// CHECK-LABEL: func.func @product_after_fill
// CHECK-SAME: (%[[A:.*]]: memref<14x16xf32>, %[[B:.*]]: memref<16x32xf32>, %[[C:.*]]: memref<14x32xf32>)
// CHECK-NOT: linalg.fill
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// CHECK: scf.for %[[COL:.*]] = %c0 to %c32 step %c16 {
// CHECK:   scf.for %[[ROW:.*]] = %c0 to %c12 step %c6 {
// CHECK:     %{{.*}}:12 = scf.for %[[K:.*]] = %c0 to %c16 step %c1 iter_args(%{{.*}} = %[[ZERO]], {{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK:       vector.load %[[B]][%[[K]], %[[COL]]] : memref<16x32xf32>, vector<8xf32>
// CHECK:       vector.load %[[B]][%[[K]], %{{.*}}] : memref<16x32xf32>, vector<8xf32>
// CHECK:       %[[AIK:.*]] = memref.load %[[A]][%[[ROW]], %[[K]]] : memref<14x16xf32>
// CHECK:       vector.broadcast %[[AIK]] : f32 to vector<8xf32>
// CHECK-COUNT-12: vector.fma
// CHECK:     vector.store %{{.*}}, %[[C]][%[[ROW]], %[[COL]]] : memref<14x32xf32>, vector<8xf32>
// CHECK:   %{{.*}}:4 = scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args
// CHECK-NOT: linalg.matmul
func.func @product_after_fill(%a: memref<14x16xf32>, %b: memref<16x32xf32>,
                              %c: memref<14x32xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<14x32xf32>)
  linalg.matmul ins(%a, %b : memref<14x16xf32>, memref<16x32xf32>)
                outs(%c : memref<14x32xf32>)
  return
}

// -----

// The flash accumulator is rescaled by alpha per row, then accumulated into:
// the rescaling happens as the accumulators are loaded. B may be a strided
// view whose rows are contiguous.
// CHECK-LABEL: func.func @product_after_row_scale
// CHECK-SAME: (%[[P:.*]]: memref<6x16xf32>, %[[V:.*]]: memref<16x16xf32, strided<[64, 1], offset: ?>>, %[[ACC:.*]]: memref<6x16xf32>, %[[ALPHA:.*]]: memref<6xf32>)
// CHECK-NOT: linalg.generic
// CHECK: %[[FACTOR:.*]] = memref.load %[[ALPHA]][%{{.*}}] : memref<6xf32>
// CHECK: %[[SPLAT:.*]] = vector.broadcast %[[FACTOR]] : f32 to vector<8xf32>
// CHECK: %[[OLD:.*]] = vector.load %[[ACC]][%{{.*}}, %{{.*}}] : memref<6x16xf32>, vector<8xf32>
// CHECK: arith.mulf %[[OLD]], %[[SPLAT]] : vector<8xf32>
// CHECK: vector.load %[[V]]
// CHECK-COUNT-12: vector.fma
// CHECK-NOT: linalg.matmul
func.func @product_after_row_scale(%p: memref<6x16xf32>,
    %v: memref<16x16xf32, strided<[64, 1], offset: ?>>,
    %acc: memref<6x16xf32>, %alpha: memref<6xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>,
                                   affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%alpha : memref<6xf32>) outs(%acc : memref<6x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %out, %in : f32
    linalg.yield %0 : f32
  }
  linalg.matmul ins(%p, %v : memref<6x16xf32>, memref<16x16xf32, strided<[64, 1], offset: ?>>)
                outs(%acc : memref<6x16xf32>)
  return
}

// -----

// Row operations: a loop over the rows around 1-D vectors; the row maximum
// is a vector reduction.
// CHECK-LABEL: func.func @rows
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 {
// CHECK:   %[[ROW:.*]] = memref.subview %{{.*}}[%[[I]], 0] [1, 64] [1, 1]
// CHECK:   vector.load %[[ROW]][%c0, %c0] : memref<1x64xf32, strided<[64, 1], offset: ?>>, vector<64xf32>
// CHECK:   math.exp2 %{{.*}} : vector<64xf32>
// CHECK:   vector.store
// CHECK: scf.for
// CHECK:   vector.reduction <maximumf>, %{{.*}} : vector<64xf32> into f32
// The fast-math flags of a reduction's combiner carry over to its vector
// reduction (the online softmax's row maximum: nnan, nsz).
// CHECK: scf.for
// CHECK:   vector.reduction <maximumf>, %{{.*}}, %{{.*}} fastmath<nnan,nsz> : vector<64xf32> into f32
// CHECK-NOT: linalg.generic
func.func @rows(%s: memref<8x64xf32>, %m: memref<8xf32>, %max: memref<8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>,
                                   affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%m : memref<8xf32>) outs(%s : memref<8x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.subf %out, %in : f32
    %1 = math.exp2 %0 : f32
    linalg.yield %1 : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                   affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%s : memref<8x64xf32>) outs(%max : memref<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.maximumf %in, %out : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                   affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%s : memref<8x64xf32>) outs(%max : memref<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.maximumf %in, %out fastmath<nnan,nsz> : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

// A transposing op and one that reduces over an outer loop stay linalg for
// the loop lowering; a copy between strided views becomes row vectors
// rather than a call to a runtime copy routine.
// CHECK-LABEL: func.func @left_alone
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK-LABEL: func.func @strided_copy
// CHECK-NOT: memref.copy
// CHECK: scf.for
// CHECK: vector.load %{{.*}} : memref<1x16xf32, strided<[32, 1], offset: ?>>, vector<16xf32>
// CHECK: vector.store %{{.*}} : memref<1x16xf32, strided<[16, 1], offset: ?>>, vector<16xf32>
func.func @left_alone(%x: memref<16x8xf32>, %y: memref<8x16xf32>,
                      %w: memref<4x8xf32>, %z: memref<8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>,
                                   affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<16x8xf32>) outs(%y : memref<8x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                   affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%w : memref<4x8xf32>) outs(%z : memref<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  }
  return
}
func.func @strided_copy(%x: memref<?x16xf32, strided<[32, 1], offset: ?>>,
                        %y: memref<?x16xf32, strided<[16, 1]>>) {
  memref.copy %x, %y : memref<?x16xf32, strided<[32, 1], offset: ?>> to memref<?x16xf32, strided<[16, 1]>>
  return
}

// -----

// Dot products against rows of B (the decode strategy's scores, B a view of
// the key cache): keys in blocks of 3 (a tail block of 1 for 16 keys), rows
// in blocks of 4 (a tail block of 1 for 5 rows); each step of 8 along d
// loads the block's 3 key rows once for its rows, and each accumulator is
// summed across its lanes once. The zero fill is absorbed. B is a view into
// a larger buffer (the cache, read in place): each step also prefetches the
// next block's 3 key rows at the same d, clamped to the last row.
// CHECK-LABEL: func.func @dot_rows
// CHECK-NOT: linalg.fill
// CHECK: scf.for %[[T:.*]] = %c0 to %c15 step %c3
// CHECK: arith.minsi %{{.*}}, %c15 : index
// CHECK: scf.for %[[D:.*]] = %c0 to %c32 step %c8 iter_args(%{{.*}} = %{{.*}}, {{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-3: memref.prefetch %{{.*}}[%{{.*}}, %[[D]]], read, locality<3>, data
// CHECK-COUNT-3: vector.load %{{.*}}[%{{.*}}, %[[D]]] : memref<16x32xf32, strided<[32, 1], offset: ?>>, vector<8xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}, %[[D]]] : memref<5x32xf32>, vector<8xf32>
// CHECK-COUNT-3: vector.fma
// CHECK: vector.reduction <add>
// CHECK: memref.store
// CHECK-NOT: linalg.generic
func.func @dot_rows(%q: memref<5x32xf32>, %k: memref<16x32xf32, strided<[32, 1], offset: ?>>, %s: memref<5x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%s : memref<5x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(r, t, d) -> (r, d)>, affine_map<(r, t, d) -> (t, d)>, affine_map<(r, t, d) -> (r, t)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %k : memref<5x32xf32>, memref<16x32xf32, strided<[32, 1], offset: ?>>) outs(%s : memref<5x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %sum = arith.addf %c, %p : f32
    linalg.yield %sum : f32
  }
  return
}

// -----

// A product whose B is read in place (the decode strategy's values): while
// a column strip walks the rows of B, it prefetches the same rows' line of
// the next strip (the last strip its own), one per step of the reduction.
// A packed B (identity layout, the flash tiles) is never prefetched.
// CHECK-LABEL: func.func @product_in_place
// CHECK: scf.for %[[COL:.*]] = %c0 to %c32 step %c16
// CHECK: %[[AFTER:.*]] = arith.addi %[[COL]], %c16 : index
// CHECK: %[[NEXT:.*]] = arith.minsi %[[AFTER]], %c24 : index
// CHECK: scf.for %[[K:.*]] = %c0 to %c64 step %c1
// CHECK: memref.prefetch %{{.*}}[%[[K]], %[[NEXT]]], read, locality<3>, data : memref<64x32xf32, strided<[128, 1], offset: ?>>
// CHECK-LABEL: func.func @product_packed
// CHECK-NOT: memref.prefetch
func.func @product_in_place(%a: memref<4x64xf32>, %b: memref<64x32xf32, strided<[128, 1], offset: ?>>, %c: memref<4x32xf32>) {
  linalg.matmul ins(%a, %b : memref<4x64xf32>, memref<64x32xf32, strided<[128, 1], offset: ?>>) outs(%c : memref<4x32xf32>)
  return
}
func.func @product_packed(%a: memref<4x64xf32>, %b: memref<64x32xf32>, %c: memref<4x32xf32>) {
  linalg.matmul ins(%a, %b : memref<4x64xf32>, memref<64x32xf32>) outs(%c : memref<4x32xf32>)
  return
}

// -----

// B is a tile of rows of a larger buffer (the decode strategy's K and V
// tiles of the cache, subviews of it): besides the prefetches inside the
// tile, each step prefetches, through the cache itself, the row one tile
// ahead of the one it reads (the next tile's), clamped to the cache's last
// row, so that the next tile's lines are in flight while this one computes.
// CHECK-LABEL: func.func @next_tile_of_the_cache
// CHECK-SAME: (%[[KC:[^:]*]]: memref<1x2x?x32xf16>, %[[VC:[^:]*]]: memref<1x2x?x32xf16>, %[[H:[^:]*]]: index, %[[OFF:[^:]*]]: index
// The scores: key row t + 16 of the key cache, at the same d, in the first
// row block.
// CHECK: %[[KAHEAD:.*]] = arith.addi %[[OFF]], %c16 : index
// CHECK: %[[KDIM:.*]] = memref.dim %[[KC]], %c2 : memref<1x2x?x32xf16>
// CHECK: %[[KLAST:.*]] = arith.subi %[[KDIM]], %c1 : index
// CHECK: scf.for %[[T:.*]] = %c0 to %c14 step %c7 {
// CHECK: scf.for %[[D:.*]] = %c0 to %c32 step %c8
// CHECK: %[[KROW:.*]] = arith.addi %[[KAHEAD]], %[[T]] : index
// CHECK: %[[KCLAMPED:.*]] = arith.minsi %[[KROW]], %[[KLAST]] : index
// CHECK: memref.prefetch %[[KC]][%c0, %[[H]], %[[KCLAMPED]], %[[D]]], read, locality<3>, data : memref<1x2x?x32xf16>
// The product p v: value row k + 16 of the value cache, at the strip's
// column, next to the prefetch of the tile's own next strip.
// CHECK: %[[VAHEAD:.*]] = arith.addi %[[OFF]], %c16 : index
// CHECK: %[[VDIM:.*]] = memref.dim %[[VC]], %c2 : memref<1x2x?x32xf16>
// CHECK: %[[VLAST:.*]] = arith.subi %[[VDIM]], %c1 : index
// CHECK: scf.for %[[COL:.*]] = %c0 to %c32 step %c16 {
// CHECK: scf.for %[[K:.*]] = %c0 to %c16 step %c1
// CHECK: memref.prefetch %{{.*}}[%[[K]], %{{.*}}], read, locality<3>, data : memref<16x32xf16, strided<[32, 1], offset: ?>>
// CHECK: %[[VROW:.*]] = arith.addi %[[VAHEAD]], %[[K]] : index
// CHECK: %[[VCLAMPED:.*]] = arith.minsi %[[VROW]], %[[VLAST]] : index
// CHECK: memref.prefetch %[[VC]][%c0, %[[H]], %[[VCLAMPED]], %[[COL]]], read, locality<3>, data : memref<1x2x?x32xf16>
func.func @next_tile_of_the_cache(%kc: memref<1x2x?x32xf16>, %vc: memref<1x2x?x32xf16>, %h: index, %off: index, %q: memref<1x32xf32>, %s: memref<1x16xf32>, %o: memref<1x32xf32>) {
  %k = memref.subview %kc[0, %h, %off, 0] [1, 1, 16, 32] [1, 1, 1, 1] : memref<1x2x?x32xf16> to memref<16x32xf16, strided<[32, 1], offset: ?>>
  %v = memref.subview %vc[0, %h, %off, 0] [1, 1, 16, 32] [1, 1, 1, 1] : memref<1x2x?x32xf16> to memref<16x32xf16, strided<[32, 1], offset: ?>>
  linalg.generic {indexing_maps = [affine_map<(r, t, d) -> (r, d)>, affine_map<(r, t, d) -> (t, d)>, affine_map<(r, t, d) -> (r, t)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %k : memref<1x32xf32>, memref<16x32xf16, strided<[32, 1], offset: ?>>) outs(%s : memref<1x16xf32>) {
  ^bb0(%a: f32, %b: f16, %c: f32):
    %w = arith.extf %b : f16 to f32
    %p = arith.mulf %a, %w : f32
    %sum = arith.addf %c, %p : f32
    linalg.yield %sum : f32
  }
  linalg.matmul ins(%s, %v : memref<1x16xf32>, memref<16x32xf16, strided<[32, 1], offset: ?>>) outs(%o : memref<1x32xf32>)
  return
}
