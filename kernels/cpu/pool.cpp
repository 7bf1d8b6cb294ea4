// CPU pooling: the readable reference. Forward loops over output pixels; backward scatters each
// output gradient back over its window (serially per plane, so overlapping windows just add).

#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"
#include "kernels/pool.h"
#include "kernels/pool_window.h"

namespace iqa::kernels::cpu {

void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x_, void* y_, int64_t* argmax) {
  with_cpu_float(dtype, "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(x_);
    T* y = static_cast<T*>(y_);
#pragma omp parallel for if (g.planes * g.out_h * g.out_w > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      const T* plane = x + p * g.h * g.w;
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const MaxPoolTap<T> best = max_pool_window<T>(oh, ow, g.h, g.w, g.kernel, g.stride, g.padding,
                                                        [&](int64_t ih, int64_t iw) { return plane[ih * g.w + iw]; });
          const int64_t o = (p * g.out_h + oh) * g.out_w + ow;
          y[o] = best.value;
          argmax[o] = best.tap < 0 ? 0 : best.ih * g.w + best.iw;
        }
    }
  });
}

void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy_, const int64_t* argmax, void* dx_) {
  with_cpu_float(dtype, "max_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* dy = static_cast<const T*>(dy_);
    T* dx = static_cast<T*>(dx_);
#pragma omp parallel for if (g.planes * g.h * g.w > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      T* plane = dx + p * g.h * g.w;
      for (int64_t i = 0; i < g.h * g.w; ++i) plane[i] = T(0);
      const int64_t base = p * g.out_h * g.out_w;
      for (int64_t o = 0; o < g.out_h * g.out_w; ++o) plane[argmax[base + o]] += dy[base + o];
    }
  });
}

void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x_, void* y_) {
  with_cpu_float(dtype, "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(x_);
    T* y = static_cast<T*>(y_);
    const T inv_area = T(1) / T(g.kernel * g.kernel);  // count_include_pad: padding counts as zeros
#pragma omp parallel for if (g.planes * g.out_h * g.out_w > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      const T* plane = x + p * g.h * g.w;
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          T acc = 0;
          for (int64_t i = 0; i < g.kernel; ++i) {
            int64_t ih = oh * g.stride - g.padding + i;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t j = 0; j < g.kernel; ++j) {
              int64_t iw = ow * g.stride - g.padding + j;
              if (iw >= 0 && iw < g.w) acc += plane[ih * g.w + iw];
            }
          }
          y[(p * g.out_h + oh) * g.out_w + ow] = acc * inv_area;
        }
    }
  });
}

void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy_, void* dx_) {
  with_cpu_float(dtype, "avg_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* dy = static_cast<const T*>(dy_);
    T* dx = static_cast<T*>(dx_);
    const T inv_area = T(1) / T(g.kernel * g.kernel);
#pragma omp parallel for if (g.planes * g.h * g.w > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      T* plane = dx + p * g.h * g.w;
      for (int64_t i = 0; i < g.h * g.w; ++i) plane[i] = T(0);
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          T share = dy[(p * g.out_h + oh) * g.out_w + ow] * inv_area;
          for (int64_t i = 0; i < g.kernel; ++i) {
            int64_t ih = oh * g.stride - g.padding + i;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t j = 0; j < g.kernel; ++j) {
              int64_t iw = ow * g.stride - g.padding + j;
              if (iw >= 0 && iw < g.w) plane[ih * g.w + iw] += share;
            }
          }
        }
    }
  });
}

void adaptive_avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x_, void* y_) {
  with_cpu_float(dtype, "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(x_);
    T* y = static_cast<T*>(y_);
#pragma omp parallel for if (g.planes * g.h * g.w > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      const T* plane = x + p * g.h * g.w;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        int64_t h0 = adaptive_bin_start(oh, g.h, g.out_h), h1 = adaptive_bin_end(oh, g.h, g.out_h);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          int64_t w0 = adaptive_bin_start(ow, g.w, g.out_w), w1 = adaptive_bin_end(ow, g.w, g.out_w);
          T acc = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) acc += plane[ih * g.w + iw];
          y[(p * g.out_h + oh) * g.out_w + ow] = acc / T((h1 - h0) * (w1 - w0));
        }
      }
    }
  });
}

void adaptive_avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy_, void* dx_) {
  with_cpu_float(dtype, "adaptive_avg_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* dy = static_cast<const T*>(dy_);
    T* dx = static_cast<T*>(dx_);
#pragma omp parallel for if (g.planes * g.h * g.w > 16384)
    for (int64_t p = 0; p < g.planes; ++p) {
      T* plane = dx + p * g.h * g.w;
      for (int64_t i = 0; i < g.h * g.w; ++i) plane[i] = T(0);
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        int64_t h0 = adaptive_bin_start(oh, g.h, g.out_h), h1 = adaptive_bin_end(oh, g.h, g.out_h);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          int64_t w0 = adaptive_bin_start(ow, g.w, g.out_w), w1 = adaptive_bin_end(ow, g.w, g.out_w);
          T share = dy[(p * g.out_h + oh) * g.out_w + ow] / T((h1 - h0) * (w1 - w0));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) plane[ih * g.w + iw] += share;
        }
      }
    }
  });
}

}  // namespace iqa::kernels::cpu
