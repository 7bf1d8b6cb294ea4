#include "training/synthetic_regression.h"

#include <cmath>
#include <vector>

namespace iqa {

RegressionData make_synthetic_regression(int64_t n) {
  RegressionData d;
  d.x = Tensor::randn({n, 8});
  const std::vector<float> wv = Tensor::randn({2, 8}).to_vector();
  const std::vector<float> xv = d.x.to_vector();
  std::vector<double> u1(8), u2(8);
  double n1 = 0, dot = 0, n2 = 0;
  for (int k = 0; k < 8; ++k) n1 += double(wv[k]) * wv[k];
  for (int k = 0; k < 8; ++k) u1[k] = wv[k] / std::sqrt(n1);
  for (int k = 0; k < 8; ++k) dot += wv[8 + k] * u1[k];
  for (int k = 0; k < 8; ++k) u2[k] = wv[8 + k] - dot * u1[k];
  for (int k = 0; k < 8; ++k) n2 += u2[k] * u2[k];
  for (int k = 0; k < 8; ++k) u2[k] /= std::sqrt(n2);
  std::vector<float> yv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double a = 0, b = 0;
    for (int k = 0; k < 8; ++k) {
      a += xv[size_t(i * 8 + k)] * u1[k];
      b += xv[size_t(i * 8 + k)] * u2[k];
    }
    yv[size_t(i)] = float(std::sin(a) + 0.5 * std::tanh(b));
  }
  d.y = Tensor::from_vector(yv, {n, 1});
  return d;
}

}  // namespace iqa
