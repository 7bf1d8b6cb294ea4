// Reference LayerNorm over contiguous rows: two-pass mean / biased variance in f64, statistics saved in
// S (f32 for f32 data, f64 for f64 data).
//   y = (x - mean) * rstd * w + b
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = g * w
//   dw = sum_rows g * xhat,  db = sum_rows g
#include "kernels/layer_norm.h"

#include <cmath>

#include "kernels/error.h"

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

// gs (the gradient reaching x from elsewhere, add_layer_norm's sum) is added to dx when non-null.
template <class T, class S>
void backward_typed(const T* x, const T* w, const S* mean, const S* rstd, const T* g, const T* gs, T* dx, T* dw,
                    T* db, int64_t rows, int64_t cols) {
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
      double v = rs * (dxhat - m1 - xhat * m2);
      if (gs) v += double(gs[r * cols + j]);
      dr[j] = T(v);
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

void add_layer_norm_backward(DType dtype, const void* sum, const void* weight, const void* mean, const void* rstd,
                             const void* grad_y, const void* grad_sum, void* grad_x, void* grad_weight,
                             void* grad_bias, int64_t rows, int64_t cols) {
  if (dtype == DType::F32)
    backward_typed(static_cast<const float*>(sum), static_cast<const float*>(weight), static_cast<const float*>(mean),
                   static_cast<const float*>(rstd), static_cast<const float*>(grad_y),
                   static_cast<const float*>(grad_sum), static_cast<float*>(grad_x), static_cast<float*>(grad_weight),
                   static_cast<float*>(grad_bias), rows, cols);
  else if (dtype == DType::F64)
    backward_typed(static_cast<const double*>(sum), static_cast<const double*>(weight),
                   static_cast<const double*>(mean), static_cast<const double*>(rstd),
                   static_cast<const double*>(grad_y), static_cast<const double*>(grad_sum),
                   static_cast<double*>(grad_x), static_cast<double*>(grad_weight), static_cast<double*>(grad_bias),
                   rows, cols);
  else
    fail(cat("layer_norm_backward (CPU): f32/f64 only, got ", dtype_name(dtype)));
}

void layer_norm_backward(DType dtype, const void* x, const void* weight, const void* mean, const void* rstd,
                         const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias, int64_t rows,
                         int64_t cols) {
  add_layer_norm_backward(dtype, x, weight, mean, rstd, grad_y, nullptr, grad_x, grad_weight, grad_bias, rows, cols);
}

// The readable form of the fusion: the add (in the data type, like the unfused add), then the norm.
void add_layer_norm_forward(DType dtype, const void* x, const void* residual, const void* weight, const void* bias,
                            void* sum, void* y, void* mean, void* rstd, int64_t rows, int64_t cols, double eps) {
  const int64_t n = rows * cols;
  if (dtype == DType::F32) {
    const float *a = static_cast<const float*>(x), *b = static_cast<const float*>(residual);
    float* s = static_cast<float*>(sum);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) s[i] = a[i] + b[i];
  } else if (dtype == DType::F64) {
    const double *a = static_cast<const double*>(x), *b = static_cast<const double*>(residual);
    double* s = static_cast<double*>(sum);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) s[i] = a[i] + b[i];
  } else {
    fail(cat("add_layer_norm_forward (CPU): f32/f64 only, got ", dtype_name(dtype)));
  }
  layer_norm_forward(dtype, sum, weight, bias, y, mean, rstd, rows, cols, eps);
}

}  // namespace iqa::kernels::cpu
