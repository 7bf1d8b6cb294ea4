// CPU pooling: the readable reference. Forward loops over output pixels; backward scatters each
// output gradient back over its window (serially per plane, so overlapping windows just add).

#include <type_traits>

#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"
#include "kernels/pool.h"
#include "kernels/pool_window.h"

namespace iqa::kernels::cpu {

namespace {

// Stores `pixel(plane, o, oh, ow)` at every output pixel o = (p, oh, ow), with `plane` the input plane
// p; planes run in parallel.
template <class Pixel>
void forward_each_pixel(DType dtype, const char* name, const Pool2dGeometry& g, const void* x_, void* y_,
                        Pixel&& pixel) {
  with_cpu_float_buffers(dtype, name, [&](const auto* x, auto* y) {
    using T = elem_t<decltype(x)>;
#pragma omp parallel for if (g.planes * (g.h * g.w + g.out_h * g.out_w) > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      const T* plane = x + p * g.h * g.w;
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const int64_t o = (p * g.out_h + oh) * g.out_w + ow;
          y[o] = pixel(plane, o, oh, ow);
        }
    }
  }, x_, y_);
}

// Zeroes each plane of dx, then `scatter(dx_plane, dy_plane, p)` adds that plane's output gradients back
// over their windows; serially within a plane, so overlapping windows just add. Planes run in parallel.
template <class Scatter>
void backward_each_plane(DType dtype, const char* name, const Pool2dGeometry& g, const void* dy_, void* dx_,
                         Scatter&& scatter) {
  with_cpu_float_buffers(dtype, name, [&](const auto* dy, auto* dx) {
    using T = elem_t<decltype(dy)>;
#pragma omp parallel for if (g.planes * g.h * g.w > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      T* plane = dx + p * g.h * g.w;
      for (int64_t i = 0; i < g.h * g.w; ++i) plane[i] = T(0);
      scatter(plane, dy + p * g.out_h * g.out_w, p);
    }
  }, dy_, dx_);
}

// Calls f(ih, iw) for each in-image tap of the kernel x kernel window of output pixel (oh, ow).
template <class F>
void for_window_taps(const Pool2dGeometry& g, int64_t oh, int64_t ow, F&& f) {
  for (int64_t i = 0; i < g.kernel; ++i) {
    const int64_t ih = oh * g.stride - g.padding + i;
    if (ih < 0 || ih >= g.h) continue;
    for (int64_t j = 0; j < g.kernel; ++j) {
      const int64_t iw = ow * g.stride - g.padding + j;
      if (iw >= 0 && iw < g.w) f(ih, iw);
    }
  }
}

}  // namespace

void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, int64_t* argmax) {
  forward_each_pixel(dtype, "max_pool2d", g, x, y, [&](const auto* plane, int64_t o, int64_t oh, int64_t ow) {
    using T = elem_t<decltype(plane)>;
    const MaxPoolTap<T> best = max_pool_window<T>(oh, ow, g.h, g.w, g.kernel, g.stride, g.padding,
                                                  [&](int64_t ih, int64_t iw) { return plane[ih * g.w + iw]; });
    argmax[o] = best.tap < 0 ? 0 : best.ih * g.w + best.iw;
    return best.value;
  });
}

void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, const int64_t* argmax, void* dx) {
  backward_each_plane(dtype, "max_pool2d backward", g, dy, dx, [&](auto* plane, const auto* dy_plane, int64_t p) {
    const int64_t* plane_argmax = argmax + p * g.out_h * g.out_w;
    for (int64_t o = 0; o < g.out_h * g.out_w; ++o) plane[plane_argmax[o]] += dy_plane[o];
  });
}

void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) {
  forward_each_pixel(dtype, "avg_pool2d", g, x, y, [&](const auto* plane, int64_t, int64_t oh, int64_t ow) {
    using T = elem_t<decltype(plane)>;
    T acc = 0;
    for_window_taps(g, oh, ow, [&](int64_t ih, int64_t iw) { acc += plane[ih * g.w + iw]; });
    return acc * (T(1) / T(g.kernel * g.kernel));  // count_include_pad: padding counts as zeros
  });
}

void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx) {
  backward_each_plane(dtype, "avg_pool2d backward", g, dy, dx, [&](auto* plane, const auto* dy_plane, int64_t) {
    using T = elem_t<decltype(plane)>;
    const T inv_area = T(1) / T(g.kernel * g.kernel);
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const T share = dy_plane[oh * g.out_w + ow] * inv_area;
        for_window_taps(g, oh, ow, [&](int64_t ih, int64_t iw) { plane[ih * g.w + iw] += share; });
      }
  });
}

void adaptive_avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) {
  forward_each_pixel(dtype, "adaptive_avg_pool2d", g, x, y, [&](const auto* plane, int64_t, int64_t oh, int64_t ow) {
    using T = elem_t<decltype(plane)>;
    const int64_t h0 = adaptive_bin_start(oh, g.h, g.out_h), h1 = adaptive_bin_end(oh, g.h, g.out_h);
    const int64_t w0 = adaptive_bin_start(ow, g.w, g.out_w), w1 = adaptive_bin_end(ow, g.w, g.out_w);
    T acc = 0;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) acc += plane[ih * g.w + iw];
    return acc / T((h1 - h0) * (w1 - w0));
  });
}

void adaptive_avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx) {
  const char* name = "adaptive_avg_pool2d backward";
  backward_each_plane(dtype, name, g, dy, dx, [&](auto* plane, const auto* dy_plane, int64_t) {
    using T = elem_t<decltype(plane)>;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t h0 = adaptive_bin_start(oh, g.h, g.out_h), h1 = adaptive_bin_end(oh, g.h, g.out_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t w0 = adaptive_bin_start(ow, g.w, g.out_w), w1 = adaptive_bin_end(ow, g.w, g.out_w);
        const T share = dy_plane[oh * g.out_w + ow] / T((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) plane[ih * g.w + iw] += share;
      }
    }
  });
}

}  // namespace iqa::kernels::cpu
