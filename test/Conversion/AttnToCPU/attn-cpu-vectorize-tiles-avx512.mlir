// The register blocks follow the vector unit: 16 f32 lanes and 32 registers
// (AVX-512) instead of the defaults' 8 and 16 (AVX2).
// RUN: attn-opt %s --attn-cpu-vectorize-tiles="vector-width=16 vector-registers=32" | FileCheck %s
// RUN: not attn-opt %s --attn-cpu-vectorize-tiles="vector-registers=3" 2>&1 | FileCheck %s --check-prefix=ERROR
// RUN: not attn-opt %s --attn-cpu-vectorize-tiles="vector-width=0" 2>&1 | FileCheck %s --check-prefix=ERROR-WIDTH

// A product: strips of four 16-lane vectors (64 columns), blocks of 6 rows,
// 24 accumulators; with the four B vectors and one broadcast, 29 of the 32
// registers. The tail block of 2 rows carries 8.
// CHECK-LABEL: func.func @product
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK: scf.for %[[COL:.*]] = %c0 to %c128 step %c64 {
// CHECK:   scf.for %[[ROW:.*]] = %c0 to %c12 step %c6 {
// CHECK:     %{{.*}}:24 = scf.for %[[K:.*]] = %c0 to %c16 step %c1 iter_args(%{{.*}} = %[[ZERO]], {{.*}}) -> (vector<16xf32>,
// CHECK-COUNT-4: vector.load %{{.*}}[%[[K]], %{{.*}}] : memref<16x128xf32>, vector<16xf32>
// CHECK:       vector.broadcast %{{.*}} : f32 to vector<16xf32>
// CHECK-COUNT-24: vector.fma {{.*}} : vector<16xf32>
// CHECK:   %{{.*}}:8 = scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args
// CHECK-NOT: linalg.matmul
// ERROR: error: attn-cpu-vectorize-tiles needs vector-width >= 1 and vector-registers >= 4, got 8 and 3
// ERROR-WIDTH: got 0 and 16
func.func @product(%a: memref<14x16xf32>, %b: memref<16x128xf32>,
                   %c: memref<14x128xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<14x128xf32>)
  linalg.matmul ins(%a, %b : memref<14x16xf32>, memref<16x128xf32>)
                outs(%c : memref<14x128xf32>)
  return
}

// A product with a transposed left operand, C[m, n] += sum_k A[k, m] B[k, n]
// (the backward's dv += p^T dout, here with dout in f16): blocked like a
// matmul, each step broadcasting A[k, m] of its 6 rows, B widened as it is
// loaded.
// CHECK-LABEL: func.func @transposed_product
// CHECK: scf.for %[[COL:.*]] = %c0 to %c64 step %c64 {
// CHECK:   scf.for %[[ROW:.*]] = %c0 to %c12 step %c6 {
// CHECK:     %{{.*}}:24 = scf.for %[[K:.*]] = %c0 to %c8 step %c1 iter_args(
// CHECK-COUNT-4: vector.load %{{.*}}[%[[K]], %{{.*}}] : memref<8x64xf16>, vector<16xf16>
// CHECK:       memref.load %{{.*}}[%[[K]], %[[ROW]]] : memref<8x14xf32>
// CHECK-COUNT-24: vector.fma {{.*}} : vector<16xf32>
// CHECK-NOT: linalg.generic
#pa = affine_map<(m, n, k) -> (k, m)>
#pb = affine_map<(m, n, k) -> (k, n)>
#pc = affine_map<(m, n, k) -> (m, n)>
func.func @transposed_product(%a: memref<8x14xf32>, %b: memref<8x64xf16>,
                              %c: memref<14x64xf32>) {
  linalg.generic {indexing_maps = [#pa, #pb, #pc],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<8x14xf32>, memref<8x64xf16>)
      outs(%c : memref<14x64xf32>) {
  ^bb0(%x: f32, %y: f16, %acc: f32):
    %w = arith.extf %y : f16 to f32
    %p = arith.mulf %x, %w : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// Dot products: blocks of 4 rows by 6 keys (24 accumulators, 31 registers
// with the 6 key vectors and 1 row vector), steps of 16 along d.
// CHECK-LABEL: func.func @dot_rows
// CHECK: scf.for %{{.*}} = %c0 to %c12 step %c6
// CHECK: scf.for %[[D:.*]] = %c0 to %c64 step %c16 iter_args({{.*}}) -> (vector<16xf32>,
// CHECK-COUNT-6: vector.load %{{.*}}[%{{.*}}, %[[D]]] : memref<16x64xf32>, vector<16xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}, %[[D]]] : memref<5x64xf32>, vector<16xf32>
// CHECK-COUNT-6: vector.fma
func.func @dot_rows(%q: memref<5x64xf32>, %k: memref<16x64xf32>, %s: memref<5x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%s : memref<5x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(r, t, d) -> (r, d)>, affine_map<(r, t, d) -> (t, d)>, affine_map<(r, t, d) -> (r, t)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %k : memref<5x64xf32>, memref<16x64xf32>) outs(%s : memref<5x16xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %p = arith.mulf %x, %y : f32
    %sum = arith.addf %z, %p : f32
    linalg.yield %sum : f32
  }
  return
}

// Key rows in f16 (a half-precision cache read in place): each is loaded as
// 16 halves and widened in registers, with no f32 copy.
// CHECK-LABEL: func.func @dot_rows_f16
// CHECK: vector.load %{{.*}} : memref<16x64xf16>, vector<16xf16>
// CHECK: arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// CHECK: vector.fma
// CHECK-NOT: linalg.generic
func.func @dot_rows_f16(%q: memref<5x64xf32>, %k: memref<16x64xf16>, %s: memref<5x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%s : memref<5x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(r, t, d) -> (r, d)>, affine_map<(r, t, d) -> (t, d)>, affine_map<(r, t, d) -> (r, t)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %k : memref<5x64xf32>, memref<16x64xf16>) outs(%s : memref<5x16xf32>) {
  ^bb0(%x: f32, %y: f16, %z: f32):
    %w = arith.extf %y : f16 to f32
    %p = arith.mulf %x, %w : f32
    %sum = arith.addf %z, %p : f32
    linalg.yield %sum : f32
  }
  return
}

// A transposing copy (the packing of a K tile, 64 keys x 32 columns into
// 32 x 64) with 16-lane vectors: 16 x 16 blocks, each 16 row loads, a
// transpose in registers (shuffles, no scatter or gather) and 16 row stores.
// CHECK-LABEL: func.func @transpose
// CHECK-SAME: (%[[IN:.*]]: memref<64x32xf32>, %[[OUT:.*]]: memref<32x64xf32, strided<[64, 1], offset: ?>>)
// CHECK: scf.for %[[I:.*]] = %c0 to %c64 step %c16 {
// CHECK:   scf.for %[[J:.*]] = %c0 to %c32 step %c16 {
// CHECK-COUNT-16: vector.load %[[IN]][%{{.*}}, %[[J]]] : memref<64x32xf32>, vector<16xf32>
// CHECK:     vector.shuffle
// CHECK-NOT: vector.transpose
// CHECK-COUNT-16: vector.store %{{.*}}, %[[OUT]][%{{.*}}, %[[I]]] : memref<32x64xf32, strided<[64, 1], offset: ?>>, vector<16xf32>
// CHECK-NOT: linalg.generic
func.func @transpose(%in: memref<64x32xf32>,
                     %out: memref<32x64xf32, strided<[64, 1], offset: ?>>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>,
                                   affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%in : memref<64x32xf32>)
      outs(%out : memref<32x64xf32, strided<[64, 1], offset: ?>>) {
  ^bb0(%x: f32, %y: f32):
    linalg.yield %x : f32
  }
  return
}
