// RUN: attn-opt %s --split-input-file --attn-select-strategy="strategy=decode" --verify-diagnostics

// The number of queries is not known: a task's rows cannot be sized.
func.func @dynamic_queries(%q: tensor<?x4x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                           %v: tensor<?x1x?x8xf32>) -> tensor<?x4x?x8xf32> {
  // expected-error @+1 {{the decode strategy needs a static number of queries N whose g·N rows per K/V head fit in the query tile (64), and a mask that treats all heads alike; here N = ? and g = 4}}
  %o = attn.attention %q, %k, %v
      : (tensor<?x4x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// -----

// 32 query heads x 4 rows per K/V head: 128 rows.
func.func @too_many_rows(%q: tensor<?x32x4x8xf32>, %k: tensor<?x1x?x8xf32>,
                         %v: tensor<?x1x?x8xf32>) -> tensor<?x32x4x8xf32> {
  // expected-error @+1 {{here N = 4 and g = 32}}
  %o = attn.attention %q, %k, %v
      : (tensor<?x32x4x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x32x4x8xf32>
  return %o : tensor<?x32x4x8xf32>
}
