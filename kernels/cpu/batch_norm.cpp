// CPU batch norm: per-channel loops with f64 accumulation (the reference the CUDA kernels are tested
// against). Two-pass variance: mean first, then squared deviations, so large means do not cancel.
#include <cmath>

#include "kernels/batch_norm.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/scalar_io.h"
#include "kernels/error.h"

namespace iqa::kernels::cpu {

namespace {


// Parameter c of an optional weight/bias buffer (absent = `fallback`).
inline double param(const void* p, DType t, int64_t c, double fallback) {
  return p ? load_as_double(p, t, c) : fallback;
}

}  // namespace

void batch_norm_train_stats(DType dtype, const BatchNormGeometry& g, const void* x_, double eps, double momentum,
                            void* running_mean, void* running_var, DType running_dtype, void* mean_, void* invstd_) {
  with_cpu_float_buffers(dtype, "batch_norm2d", [&](const auto* x, auto* mean, auto* invstd) {
    using T = elem_t<decltype(x)>;
    const double count = double(g.count());
#pragma omp parallel for if (g.n * g.c * g.hw > 65536)
    for (int64_t c = 0; c < g.c; ++c) {
      double sum = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* row = x + (n * g.c + c) * g.hw;
        for (int64_t i = 0; i < g.hw; ++i) sum += double(row[i]);
      }
      const double mu = sum / count;
      double sq = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* row = x + (n * g.c + c) * g.hw;
        for (int64_t i = 0; i < g.hw; ++i) {
          double d = double(row[i]) - mu;
          sq += d * d;
        }
      }
      const double var = sq / count;
      mean[c] = T(mu);
      invstd[c] = T(1.0 / std::sqrt(var + eps));
      if (running_mean) {
        double rm = load_as_double(running_mean, running_dtype, c);
        store_from_double(running_mean, running_dtype, c, (1 - momentum) * rm + momentum * mu);
      }
      if (running_var) {
        double unbiased = count > 1 ? var * count / (count - 1) : var;
        double rv = load_as_double(running_var, running_dtype, c);
        store_from_double(running_var, running_dtype, c, (1 - momentum) * rv + momentum * unbiased);
      }
    }
  }, x_, mean_, invstd_);
}

void batch_norm_eval_stats(const BatchNormGeometry& g, const void* running_mean, const void* running_var,
                           DType running_dtype, double eps, DType stat_dtype, void* mean, void* invstd) {
  for (int64_t c = 0; c < g.c; ++c) {
    store_from_double(mean, stat_dtype, c, load_as_double(running_mean, running_dtype, c));
    store_from_double(invstd, stat_dtype, c, 1.0 / std::sqrt(load_as_double(running_var, running_dtype, c) + eps));
  }
}

void batch_norm_apply(DType dtype, const BatchNormGeometry& g, const void* x_, const void* mean_, const void* invstd_,
                      const void* weight, const void* bias, DType param_dtype, void* y_) {
  with_cpu_float_buffers(dtype, "batch_norm2d", [&](const auto* x, const auto* mean, const auto* invstd, auto* y) {
    using T = elem_t<decltype(x)>;
#pragma omp parallel for collapse(2) if (g.n * g.c * g.hw > 65536)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t c = 0; c < g.c; ++c) {
        // y = x * scale + shift with scale = w invstd, shift = b - mean scale.
        const T scale = T(param(weight, param_dtype, c, 1.0)) * invstd[c];
        const T shift = T(param(bias, param_dtype, c, 0.0)) - mean[c] * scale;
        const T* xr = x + (n * g.c + c) * g.hw;
        T* yr = y + (n * g.c + c) * g.hw;
        for (int64_t i = 0; i < g.hw; ++i) yr[i] = xr[i] * scale + shift;
      }
  }, x_, mean_, invstd_, y_);
}

void batch_norm_backward_reduce(DType dtype, const BatchNormGeometry& g, const void* dy_, const void* x_,
                                const void* mean_, const void* invstd_, void* sum_dy_, void* sum_dy_xhat_) {
  with_cpu_float_buffers(dtype, "batch_norm2d backward", [&](const auto* dy, const auto* x, const auto* mean,
                                                             const auto* invstd, auto* sum_dy, auto* sum_dy_xhat) {
    using T = elem_t<decltype(x)>;
#pragma omp parallel for if (g.n * g.c * g.hw > 65536)
    for (int64_t c = 0; c < g.c; ++c) {
      double s = 0, sx = 0;
      const double mu = double(mean[c]);
      for (int64_t n = 0; n < g.n; ++n) {
        const T* dr = dy + (n * g.c + c) * g.hw;
        const T* xr = x + (n * g.c + c) * g.hw;
        for (int64_t i = 0; i < g.hw; ++i) {
          s += double(dr[i]);
          sx += double(dr[i]) * (double(xr[i]) - mu);
        }
      }
      sum_dy[c] = T(s);
      sum_dy_xhat[c] = T(sx * double(invstd[c]));
    }
  }, dy_, x_, mean_, invstd_, sum_dy_, sum_dy_xhat_);
}

void batch_norm_backward_input(DType dtype, const BatchNormGeometry& g, const void* dy_, const void* x_,
                               const void* mean_, const void* invstd_, const void* weight, DType param_dtype,
                               const void* sum_dy_, const void* sum_dy_xhat_, bool training, void* dx_) {
  with_cpu_float_buffers(dtype, "batch_norm2d backward", [&](const auto* dy, const auto* x, const auto* mean,
                                                             const auto* invstd, const auto* sum_dy,
                                                             const auto* sum_dy_xhat, auto* dx) {
    using T = elem_t<decltype(x)>;
    const T inv_count = T(1) / T(g.count());
#pragma omp parallel for collapse(2) if (g.n * g.c * g.hw > 65536)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t c = 0; c < g.c; ++c) {
        const T scale = T(param(weight, param_dtype, c, 1.0)) * invstd[c];
        const T* dr = dy + (n * g.c + c) * g.hw;
        const T* xr = x + (n * g.c + c) * g.hw;
        T* out = dx + (n * g.c + c) * g.hw;
        if (!training) {
          for (int64_t i = 0; i < g.hw; ++i) out[i] = dr[i] * scale;
          continue;
        }
        // The batch statistics depend on x too: remove the mean of dy and its projection on xhat.
        const T mean_dy = sum_dy[c] * inv_count, mean_dy_xhat = sum_dy_xhat[c] * inv_count;
        for (int64_t i = 0; i < g.hw; ++i) {
          T xhat = (xr[i] - mean[c]) * invstd[c];
          out[i] = scale * (dr[i] - mean_dy - xhat * mean_dy_xhat);
        }
      }
  }, dy_, x_, mean_, invstd_, sum_dy_, sum_dy_xhat_, dx_);
}

}  // namespace iqa::kernels::cpu
