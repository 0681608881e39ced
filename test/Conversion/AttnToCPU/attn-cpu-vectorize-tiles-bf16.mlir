// RUN: attn-opt %s --attn-cpu-vectorize-tiles="vector-width=16 vector-registers=32 bf16-dot=true" --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-cpu-vectorize-tiles="vector-width=16 vector-registers=32" --split-input-file | FileCheck %s --check-prefix=NO-DOT

#lhs = affine_map<(m, n, j, i) -> (m, j, i)>
#rhs = affine_map<(m, n, j, i) -> (j, n, i)>
#out = affine_map<(m, n, j, i) -> (m, n)>

// A product of bf16 pairs (the scores of bf16 flash): AVX-512's register
// block of 6 rows by 4 vectors, 24 accumulators of 16 f32 lanes, each step
// four loads of 32 bf16 (a row of B's pairs for 64 columns), one pair of A
// broadcast per row as a 32-bit word, and one vdpbf16ps per accumulator.
// The zero fill before it becomes zero accumulators.
// CHECK-LABEL: func.func @scores
// CHECK-SAME: (%[[A:.*]]: memref<14x8x2xbf16>, %[[B:.*]]: memref<8x64x2xbf16, strided<[128, 2, 1], offset: ?>>, %[[C:.*]]: memref<14x64xf32>)
// CHECK-NOT: linalg.fill
// CHECK-DAG: %[[AF:.*]] = memref.collapse_shape %[[A]] {{\[}}[0], [1, 2]] : memref<14x8x2xbf16> into memref<14x16xbf16>
// CHECK-DAG: %[[BF:.*]] = memref.collapse_shape %[[B]] {{\[}}[0], [1, 2]] : memref<8x64x2xbf16, strided<[128, 2, 1], offset: ?>> into memref<8x128xbf16, strided<[128, 1], offset: ?>>
// CHECK: scf.for %[[COL:.*]] = %c0 to %c64 step %c64 {
// CHECK:   scf.for %[[ROW:.*]] = %c0 to %c12 step %c6 {
// CHECK:     %{{.*}}:24 = scf.for %[[K:.*]] = %c0 to %c8 step %c1 iter_args({{.*}}) -> (vector<16xf32>,
// CHECK-COUNT-4: vector.load %[[BF]][%[[K]], %{{.*}}] : memref<8x128xbf16, strided<[128, 1], offset: ?>>, vector<32xbf16>
// CHECK:       %[[PAIR:.*]] = vector.load %[[AF]][%[[ROW]], %{{.*}}] : memref<14x16xbf16>, vector<2xbf16>
// CHECK:       %[[WORD:.*]] = vector.bitcast %[[PAIR]] : vector<2xbf16> to vector<1xi32>
// CHECK:       %[[WORDS:.*]] = vector.broadcast %{{.*}} : i32 to vector<16xi32>
// CHECK:       vector.bitcast %[[WORDS]] : vector<16xi32> to vector<32xbf16>
// CHECK-COUNT-24: x86vector.avx512.dot {{.*}} : vector<32xbf16> -> vector<16xf32>
// CHECK:     vector.store %{{.*}}, %[[C]][%[[ROW]], %[[COL]]] : memref<14x64xf32>, vector<16xf32>
// CHECK:   %{{.*}}:8 = scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args
// CHECK-NOT: linalg.generic
// Without the instruction the product stays a loop nest for later.
// NO-DOT-LABEL: func.func @scores
// NO-DOT: linalg.generic
// NO-DOT-NOT: x86vector
func.func @scores(%a: memref<14x8x2xbf16>,
                  %b: memref<8x64x2xbf16, strided<[128, 2, 1], offset: ?>>,
                  %c: memref<14x64xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<14x64xf32>)
  linalg.generic {indexing_maps = [#lhs, #rhs, #out],
                  iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%a, %b : memref<14x8x2xbf16>, memref<8x64x2xbf16, strided<[128, 2, 1], offset: ?>>)
      outs(%c : memref<14x64xf32>) {
  ^bb0(%x: bf16, %y: bf16, %acc: f32):
    %xf = arith.extf %x : bf16 to f32
    %yf = arith.extf %y : bf16 to f32
    %p = arith.mulf %xf, %yf : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

#lhs = affine_map<(m, n, j, i) -> (m, j, i)>
#rhs = affine_map<(m, n, j, i) -> (j, n, i)>
#out = affine_map<(m, n, j, i) -> (m, n)>

// p v of bf16 flash: the rescaling of the accumulator by alpha right before
// it happens as the accumulators are loaded. 24 columns: 8-lane vectors.
// CHECK-LABEL: func.func @values
// CHECK-NOT: linalg.generic
// CHECK: %[[FACTOR:.*]] = memref.load %{{.*}} : memref<6xf32>
// CHECK: %[[SPLAT:.*]] = vector.broadcast %[[FACTOR]] : f32 to vector<8xf32>
// CHECK: %[[OLD:.*]] = vector.load %{{.*}} : memref<6x24xf32>, vector<8xf32>
// CHECK: arith.mulf %[[OLD]], %[[SPLAT]] : vector<8xf32>
// CHECK: x86vector.avx512.dot {{.*}} : vector<16xbf16> -> vector<8xf32>
// CHECK-NOT: linalg.generic
func.func @values(%p: memref<6x4x2xbf16>, %v: memref<4x24x2xbf16>,
                  %acc: memref<6x24xf32>, %alpha: memref<6xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>,
                                   affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%alpha : memref<6xf32>) outs(%acc : memref<6x24xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %o, %a : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#lhs, #rhs, #out],
                  iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%p, %v : memref<6x4x2xbf16>, memref<4x24x2xbf16>)
      outs(%acc : memref<6x24xf32>) {
  ^bb0(%x: bf16, %y: bf16, %o: f32):
    %xf = arith.extf %x : bf16 to f32
    %yf = arith.extf %y : bf16 to f32
    %q = arith.mulf %xf, %yf : f32
    %s = arith.addf %o, %q : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Not a product of pairs: pairs whose last dimension is not 2, or f16.
// CHECK-LABEL: func.func @not_pairs
// CHECK: linalg.generic
// CHECK-NOT: x86vector
func.func @not_pairs(%a: memref<6x4x2xf16>, %b: memref<4x16x2xf16>,
                     %c: memref<6x16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, j, i) -> (m, j, i)>,
                                   affine_map<(m, n, j, i) -> (j, n, i)>,
                                   affine_map<(m, n, j, i) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%a, %b : memref<6x4x2xf16>, memref<4x16x2xf16>)
      outs(%c : memref<6x16xf32>) {
  ^bb0(%x: f16, %y: f16, %o: f32):
    %xf = arith.extf %x : f16 to f32
    %yf = arith.extf %y : f16 to f32
    %q = arith.mulf %xf, %yf : f32
    %s = arith.addf %o, %q : f32
    linalg.yield %s : f32
  }
  return
}
