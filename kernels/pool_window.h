// Window arithmetic of the 2-D pools, shared by the CPU references (kernels/cpu/pool*.cpp) and the
// CUDA kernels (kernels/cuda/pool*.cu) of both layouts, so every backend derives windows, argmax taps
// and adaptive bins from the same lines. Host/device-agnostic (IQA_HD); no layout knowledge: callers
// pass a loader for the window's taps.
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace iqa::kernels {

// Output windows [lo, hi) along one axis whose taps include input index i. Window o covers
// [o*stride - padding, o*stride - padding + kernel).
struct PoolWindowRange {
  int64_t lo, hi;
};
IQA_HD PoolWindowRange pool_windows_covering(int64_t i, int64_t kernel, int64_t stride, int64_t padding,
                                             int64_t out) {
  const int64_t first = i + padding - kernel + 1;  // o*stride >= first
  const int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const int64_t hi = (i + padding) / stride + 1;   // o*stride <= i + padding
  return {lo, hi < out ? hi : out};
}

// Adaptive bin [start, end) of output index i when `in` pixels pool into `out` bins (torch's rule).
IQA_HD int64_t adaptive_bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
IQA_HD int64_t adaptive_bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

template <class V>
IQA_HD bool pool_is_nan(V v) {
#if defined(__CUDA_ARCH__)
  return isnan(v);
#else
  return std::isnan(v);
#endif
}

// The winner of one max-pool window: its value and where it sits (tap = i*kernel + j inside the
// window, ih/iw in the image); tap < 0 when every tap reads padding (value -inf then).
template <class V>
struct MaxPoolTap {
  V value;
  int64_t tap, ih, iw;
};

// Scans the kernel x kernel window of output pixel (oh, ow) over an h x w image; load(ih, iw) returns
// a tap's value as V. Padding never wins, a NaN does (torch's rule), and the first maximum is kept.
template <class V, class Load>
IQA_HD MaxPoolTap<V> max_pool_window(int64_t oh, int64_t ow, int64_t h, int64_t w, int64_t kernel, int64_t stride,
                                     int64_t padding, Load load) {
  MaxPoolTap<V> best{-V(INFINITY), -1, 0, 0};
  for (int64_t i = 0; i < kernel; ++i) {
    const int64_t ih = oh * stride - padding + i;
    if (ih < 0 || ih >= h) continue;
    for (int64_t j = 0; j < kernel; ++j) {
      const int64_t iw = ow * stride - padding + j;
      if (iw < 0 || iw >= w) continue;
      const V v = load(ih, iw);
      if (best.tap < 0 || v > best.value || pool_is_nan(v)) best = {v, i * kernel + j, ih, iw};
    }
  }
  return best;
}

}  // namespace iqa::kernels
