// The two applications' inputs and their check: causal attention written
// out in double, independent of attn.
#include "attn/runtime.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

/// q, k, v of shape (1, 2, n, 16), from a fixed formula.
inline std::vector<attn::HostTensor> makeInputs(int64_t n) {
  std::vector<attn::HostTensor> inputs;
  for (int t = 0; t < 3; ++t) {
    attn::HostTensor tensor(ATTN_DTYPE_F32, {1, 2, n, 16});
    float *x = tensor.data<float>();
    for (int64_t i = 0; i < tensor.numElements(); ++i)
      x[i] = std::sin(0.37f * float(i) + 1.3f * float(t));
    inputs.push_back(std::move(tensor));
  }
  return inputs;
}

/// The largest difference between `out` and causal softmax attention of the
/// inputs (query i sees keys 0..i, scale 1/sqrt(16)).
inline double maxError(const std::vector<attn::HostTensor> &in,
                       const attn::HostTensor &out, int64_t n) {
  const float *q = in[0].data<float>(), *k = in[1].data<float>(),
              *v = in[2].data<float>(), *o = out.data<float>();
  double worst = 0;
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> p(i + 1);
      double top = -INFINITY, sum = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double s = 0;
        for (int d = 0; d < 16; ++d)
          s += double(q[(h * n + i) * 16 + d]) * k[(h * n + j) * 16 + d];
        p[j] = s / 4;
        top = std::max(top, p[j]);
      }
      for (double &x : p)
        sum += x = std::exp(x - top);
      for (int d = 0; d < 16; ++d) {
        double expected = 0;
        for (int64_t j = 0; j <= i; ++j)
          expected += p[j] / sum * v[(h * n + j) * 16 + d];
        worst = std::max(worst,
                         std::abs(expected - o[(h * n + i) * 16 + d]));
      }
    }
  return worst;
}

inline int report(const char *what, const attn::Status &status) {
  std::fprintf(stderr, "%s: %s\n", what, status.toString().c_str());
  return 1;
}
