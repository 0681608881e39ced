// A strided mask whose stride exceeds the keys, on a batch of 64 (B times
// the stride = 65536 residue classes had the decomposition fold them all
// into the batch, and LLVM's instruction selection aborted on a vector of
// that size). The mask now stays whole: it compiles to a library, runs and
// matches the reference.
//
// RUN: attn-translate %s -o %t.so
// RUN: attn-run %s --random 1 --check | FileCheck %s
// CHECK: check out [64,1,7,8]: max error {{.*}} ok

func.func @strided_beyond_keys(%q: tensor<64x1x7x8xf32>)
    -> tensor<64x1x7x8xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = 1024>)
      : (tensor<64x1x7x8xf32>, tensor<64x1x7x8xf32>, tensor<64x1x7x8xf32>)
        -> tensor<64x1x7x8xf32>
  return %o : tensor<64x1x7x8xf32>
}
