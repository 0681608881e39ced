// RUN: attn-opt %s --attn-approximate-exp2=include-log2 | FileCheck %s
// RUN: attn-opt %s --attn-approximate-exp2=include-log2 --canonicalize | FileCheck %s --check-prefix=VALUE
// RUN: attn-opt %s --attn-approximate-exp2 | FileCheck %s --check-prefix=OFF

// log2 x = e + ln(m) log2(e): e and m from the bits of x, m moved into
// [sqrt(1/2), sqrt(2)), ln m by the atanh series in t = (m - 1) / (m + 1).
// CHECK-LABEL: func.func @log2
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.shrui
// CHECK: arith.andi
// CHECK: arith.ori
// CHECK: arith.cmpf ogt
// CHECK: arith.divf
// CHECK-COUNT-4: math.fma
// CHECK: math.fma
// CHECK-NOT: math.log2
// OFF: math.log2
func.func @log2(%x: f32) -> f32 {
  %y = math.log2 %x : f32
  return %y : f32
}

// Folded on constants, the arithmetic gives log2 to f32 precision:
// log2(10) = 3.32192809, log2(1) = 0, log2(0.3) = -1.73696559,
// log2(3e7) = 24.83845962.
// VALUE-LABEL: func.func @values
// VALUE-DAG: arith.constant 3.3219{{[0-9]*}} : f32
// VALUE-DAG: arith.constant 0.000000e+00 : f32
// VALUE-DAG: arith.constant -1.73696{{[0-9]*}} : f32
// VALUE-DAG: arith.constant 24.8384{{[0-9]*}} : f32
func.func @values() -> (f32, f32, f32, f32) {
  %a = arith.constant 10.0 : f32
  %b = arith.constant 1.0 : f32
  %c = arith.constant 0.3 : f32
  %d = arith.constant 3.0e7 : f32
  %la = math.log2 %a : f32
  %lb = math.log2 %b : f32
  %lc = math.log2 %c : f32
  %ld = math.log2 %d : f32
  return %la, %lb, %lc, %ld : f32, f32, f32, f32
}
