// Reference LayerNorm over contiguous rows: two-pass mean / biased variance in f64, statistics saved in
// S (f32 for f32 data, f64 for f64 data).
//   y = (x - mean) * rstd * w + b
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = g * w
//   dw = sum_rows g * xhat,  db = sum_rows g
#include "kernels/layer_norm.h"

#include <cmath>

#include "engine/error.h"

namespace iqa::kernels::cpu {

namespace {

template <class T, class S>
void forward_typed(const T* x, const T* w, const T* b, T* y, S* mean, S* rstd, int64_t rows, int64_t cols,
                   double eps) {
#pragma omp parallel for if (rows * cols > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double mu = 0;
    for (int64_t j = 0; j < cols; ++j) mu += double(xr[j]);
    mu /= double(cols);
    double var = 0;
    for (int64_t j = 0; j < cols; ++j) var += (double(xr[j]) - mu) * (double(xr[j]) - mu);
    var /= double(cols);
    double rs = 1.0 / std::sqrt(var + eps);
    mean[r] = S(mu);
    rstd[r] = S(rs);
    for (int64_t j = 0; j < cols; ++j) {
      double v = (double(xr[j]) - mu) * rs;
      if (w) v *= double(w[j]);
      if (b) v += double(b[j]);
      yr[j] = T(v);
    }
  }
}

template <class T, class S>
void backward_typed(const T* x, const T* w, const S* mean, const S* rstd, const T* g, T* dx, T* dw, T* db,
                    int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T* gr = g + r * cols;
    T* dr = dx + r * cols;
    double mu = double(mean[r]), rs = double(rstd[r]);
    double sum_dxhat = 0, sum_dxhat_xhat = 0;
    for (int64_t j = 0; j < cols; ++j) {
      double xhat = (double(xr[j]) - mu) * rs;
      double dxhat = double(gr[j]) * (w ? double(w[j]) : 1.0);
      sum_dxhat += dxhat;
      sum_dxhat_xhat += dxhat * xhat;
    }
    double m1 = sum_dxhat / double(cols), m2 = sum_dxhat_xhat / double(cols);
    for (int64_t j = 0; j < cols; ++j) {
      double xhat = (double(xr[j]) - mu) * rs;
      double dxhat = double(gr[j]) * (w ? double(w[j]) : 1.0);
      dr[j] = T(rs * (dxhat - m1 - xhat * m2));
    }
  }
  if (!dw && !db) return;
  // Column sums: parallel over columns, each walking all rows in order (deterministic).
#pragma omp parallel for if (rows * cols > 32768)
  for (int64_t j = 0; j < cols; ++j) {
    double sw = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double gv = double(g[r * cols + j]);
      sw += gv * (double(x[r * cols + j]) - double(mean[r])) * double(rstd[r]);
      sb += gv;
    }
    if (dw) dw[j] = T(sw);
    if (db) db[j] = T(sb);
  }
}

}  // namespace

void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, void* mean,
                        void* rstd, int64_t rows, int64_t cols, double eps) {
  IQA_CHECK(cols > 0 || rows == 0, "layer_norm_forward: zero columns");
  if (dtype == DType::F32)
    forward_typed(static_cast<const float*>(x), static_cast<const float*>(weight), static_cast<const float*>(bias),
                  static_cast<float*>(y), static_cast<float*>(mean), static_cast<float*>(rstd), rows, cols, eps);
  else if (dtype == DType::F64)
    forward_typed(static_cast<const double*>(x), static_cast<const double*>(weight),
                  static_cast<const double*>(bias), static_cast<double*>(y), static_cast<double*>(mean),
                  static_cast<double*>(rstd), rows, cols, eps);
  else
    fail(cat("layer_norm_forward (CPU): f32/f64 only, got ", dtype_name(dtype)));
}

void layer_norm_backward(DType dtype, const void* x, const void* weight, const void* mean, const void* rstd,
                         const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias, int64_t rows,
                         int64_t cols) {
  if (dtype == DType::F32)
    backward_typed(static_cast<const float*>(x), static_cast<const float*>(weight), static_cast<const float*>(mean),
                   static_cast<const float*>(rstd), static_cast<const float*>(grad_y), static_cast<float*>(grad_x),
                   static_cast<float*>(grad_weight), static_cast<float*>(grad_bias), rows, cols);
  else if (dtype == DType::F64)
    backward_typed(static_cast<const double*>(x), static_cast<const double*>(weight),
                   static_cast<const double*>(mean), static_cast<const double*>(rstd),
                   static_cast<const double*>(grad_y), static_cast<double*>(grad_x),
                   static_cast<double*>(grad_weight), static_cast<double*>(grad_bias), rows, cols);
  else
    fail(cat("layer_norm_backward (CPU): f32/f64 only, got ", dtype_name(dtype)));
}

}  // namespace iqa::kernels::cpu
