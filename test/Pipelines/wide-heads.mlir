// A head width in the thousands compiles to code of the size of a narrow
// one: the products loop over chunks of the reduction (64 deep here), and
// rows are vectors of at most 256 lanes in a loop, never one vector of D.
// RUN: attn-opt %s --attn-lower-to-llvm-cpu="cpu=znver4" --mlir-print-ir-after=attn-cpu-vectorize-tiles -o /dev/null 2>&1 | FileCheck %s
// CHECK-LABEL: func.func @wide
// CHECK-DAG:   %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG:   %[[D:.*]] = arith.constant 16384 : index
// CHECK:       scf.for %{{.*}} = %[[C64]] to %[[D]] step %[[C64]]
// CHECK-NOT:   vector<16384xf32>
// CHECK-NOT:   vector<512xf32>
func.func @wide(%q: tensor<?x1x?x16384xf32>) -> tensor<?x1x?x16384xf32> {
  %o = attn.attention %q, %q, %q
      : (tensor<?x1x?x16384xf32>, tensor<?x1x?x16384xf32>, tensor<?x1x?x16384xf32>)
        -> tensor<?x1x?x16384xf32>
  return %o : tensor<?x1x?x16384xf32>
}
