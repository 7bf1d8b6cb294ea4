// Reference soft-target cross-entropy: every row's statistics in f64, the mean over rows in row order.
#include "kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/dispatch.h"

namespace iqa::kernels::cpu {

namespace {

template <class T, class S>
void forward_typed(const T* x, const T* t, T* loss, S* lse, S* tsum, int64_t rows, int64_t cols) {
  std::vector<double> row_loss(static_cast<size_t>(rows));
#pragma omp parallel for if (rows * cols > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T* tr = t + r * cols;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, double(xr[j]));
    double se = 0, ts = 0, tdot = 0;  // sum exp(x - max), sum t, sum t (x - max)
    for (int64_t j = 0; j < cols; ++j) {
      const double shifted = double(xr[j]) - mx;
      se += std::exp(shifted);
      ts += double(tr[j]);
      tdot += double(tr[j]) * shifted;
    }
    const double log_se = std::log(se);
    lse[r] = S(mx + log_se);
    tsum[r] = S(ts);
    row_loss[size_t(r)] = log_se * ts - tdot;
  }
  double total = 0;
  for (double v : row_loss) total += v;
  *loss = T(total / double(rows));
}

template <class T, class S>
void backward_typed(const T* x, const T* t, const S* lse, const S* tsum, const T* grad_loss, T* dx, T* dt,
                    int64_t rows, int64_t cols) {
  const double scale = double(*grad_loss) / double(rows);
#pragma omp parallel for if (rows * cols > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const double l = double(lse[r]), ts = double(tsum[r]);
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t i = r * cols + j;
      if (dx) dx[i] = T(scale * (std::exp(double(x[i]) - l) * ts - double(t[i])));
      if (dt) dt[i] = T(scale * (l - double(x[i])));
    }
  }
}

}  // namespace

void soft_cross_entropy_forward(DType dtype, const void* logits, const void* target, void* loss, void* lse,
                                void* tsum, int64_t rows, int64_t cols) {
  IQA_CHECK(rows > 0 && cols > 0, "soft_cross_entropy_forward: empty logits [", rows, ", ", cols, "]");
  with_cpu_float(dtype, "soft_cross_entropy_forward", [&](auto tag) {
    using T = decltype(tag);
    forward_typed(static_cast<const T*>(logits), static_cast<const T*>(target), static_cast<T*>(loss),
                  static_cast<T*>(lse), static_cast<T*>(tsum), rows, cols);
  });
}

void soft_cross_entropy_backward(DType dtype, const void* logits, const void* target, const void* lse,
                                 const void* tsum, const void* grad_loss, void* grad_logits, void* grad_target,
                                 int64_t rows, int64_t cols) {
  with_cpu_float(dtype, "soft_cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    backward_typed(static_cast<const T*>(logits), static_cast<const T*>(target), static_cast<const T*>(lse),
                   static_cast<const T*>(tsum), static_cast<const T*>(grad_loss), static_cast<T*>(grad_logits),
                   static_cast<T*>(grad_target), rows, cols);
  });
}

}  // namespace iqa::kernels::cpu
