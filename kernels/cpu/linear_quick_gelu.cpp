// Reference QuickGELU forward and the fused backward (grad_pre and the bias gradient), in the data type
// like the unfused UnaryOp::QuickGelu so the CPU numbers do not move when a model switches to the fused op.
#include "kernels/linear_quick_gelu.h"

#include <cmath>

#include "kernels/cpu/dispatch.h"

namespace iqa::kernels::cpu {

namespace {
constexpr double kQuickGeluScale = 1.702;

template <class T>
T sigmoid_of(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
}  // namespace

void quick_gelu_forward(DType dtype, const void* pre, void* y, int64_t n) {
  with_cpu_float(dtype, "quick_gelu_forward", [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(pre);
    T* out = static_cast<T*>(y);
#pragma omp parallel for if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) out[i] = p[i] * sigmoid_of(T(kQuickGeluScale) * p[i]);
  });
}

void quick_gelu_backward_bias(DType dtype, const void* pre, const void* grad_y, void* grad_pre, void* grad_bias,
                              int64_t rows, int64_t cols) {
  with_cpu_float(dtype, "quick_gelu_backward_bias", [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(pre);
    const T* g = static_cast<const T*>(grad_y);
    T* dp = static_cast<T*>(grad_pre);
    const int64_t n = rows * cols;
#pragma omp parallel for if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) {
      T s = p[i];
      T sg = sigmoid_of(T(kQuickGeluScale) * s);
      dp[i] = g[i] * (sg + s * T(kQuickGeluScale) * sg * (T(1) - sg));
    }
    if (!grad_bias) return;
    // Column sums in f64, each column walking the rows in order (deterministic).
    T* db = static_cast<T*>(grad_bias);
#pragma omp parallel for if (n > (1 << 16))
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t r = 0; r < rows; ++r) s += double(dp[r * cols + j]);
      db[j] = T(s);
    }
  });
}

}  // namespace iqa::kernels::cpu
