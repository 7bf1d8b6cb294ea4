// Reference softmax / log-softmax over contiguous rows. Sums accumulate in f64 so the reference does not
// drift on long rows; the max is subtracted first so exp never overflows.
#include "kernels/softmax.h"

#include <cmath>

#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"

namespace iqa::kernels::cpu {

namespace {

template <class T>
void forward_typed(bool log, const T* x, T* y, int64_t rows, int64_t cols) {
  for_each_row(rows, cols, 32768, [&](int64_t r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T mx = xr[0];
    for (int64_t j = 1; j < cols; ++j) mx = xr[j] > mx ? xr[j] : mx;
    double total = 0;
    for (int64_t j = 0; j < cols; ++j) total += std::exp(double(xr[j] - mx));
    if (log) {
      double log_total = std::log(total);
      for (int64_t j = 0; j < cols; ++j) yr[j] = T(double(xr[j] - mx) - log_total);
    } else {
      double inv = 1.0 / total;
      for (int64_t j = 0; j < cols; ++j) yr[j] = T(std::exp(double(xr[j] - mx)) * inv);
    }
  });
}

template <class T>
void backward_typed(bool log, const T* y, const T* g, T* dx, int64_t rows, int64_t cols) {
  for_each_row(rows, cols, 32768, [&](int64_t r) {
    const T* yr = y + r * cols;
    const T* gr = g + r * cols;
    T* dr = dx + r * cols;
    double dot = 0;  // softmax: sum(g * y); log_softmax: sum(g)
    for (int64_t j = 0; j < cols; ++j) dot += log ? double(gr[j]) : double(gr[j]) * double(yr[j]);
    for (int64_t j = 0; j < cols; ++j)
      dr[j] = log ? T(double(gr[j]) - std::exp(double(yr[j])) * dot) : T(double(yr[j]) * (double(gr[j]) - dot));
  });
}

void check_dtype(DType dtype, const char* who) {
  IQA_CHECK(dtype == DType::F32 || dtype == DType::F64, who, " (CPU): f32/f64 only, got ", dtype_name(dtype));
}

}  // namespace

void softmax_forward(bool log, DType dtype, const void* x, void* y, int64_t rows, int64_t cols) {
  check_dtype(dtype, "softmax_forward");
  if (rows == 0 || cols == 0) return;
  if (dtype == DType::F32) forward_typed(log, static_cast<const float*>(x), static_cast<float*>(y), rows, cols);
  else forward_typed(log, static_cast<const double*>(x), static_cast<double*>(y), rows, cols);
}

void softmax_backward(bool log, DType dtype, const void* y, const void* grad_y, void* grad_x, int64_t rows,
                      int64_t cols) {
  check_dtype(dtype, "softmax_backward");
  if (rows == 0 || cols == 0) return;
  if (dtype == DType::F32)
    backward_typed(log, static_cast<const float*>(y), static_cast<const float*>(grad_y), static_cast<float*>(grad_x),
                   rows, cols);
  else
    backward_typed(log, static_cast<const double*>(y), static_cast<const double*>(grad_y),
                   static_cast<double*>(grad_x), rows, cols);
}

}  // namespace iqa::kernels::cpu
