// CPU channels-last pooling: the readable reference for kernels/cuda/pool_nhwc.cu. The channel is the
// innermost loop everywhere, so every window tap reads a contiguous run of c values.
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"
#include "kernels/pool.h"
#include "kernels/pool_window.h"

namespace iqa::kernels::cpu {

void max_pool2d_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x_, void* y_, uint8_t* argmax) {
  IQA_CHECK(g.kernel <= kMaxPoolNhwcMaxKernel, "max_pool2d_nhwc: kernel ", g.kernel, " exceeds ",
            kMaxPoolNhwcMaxKernel);
  with_cpu_float_buffers(dtype, "max_pool2d_nhwc", [&](const auto* x, auto* y) {
    using T = elem_t<decltype(x)>;
#pragma omp parallel for collapse(2) if (g.n * g.out_h * g.out_w * g.c > 16384)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const int64_t o = ((n * g.out_h + oh) * g.out_w + ow) * g.c;
          const T* image = x + n * g.h * g.w * g.c;
          for (int64_t c = 0; c < g.c; ++c) {
            const MaxPoolTap<T> best = max_pool_window<T>(
                oh, ow, g.h, g.w, g.kernel, g.stride, g.padding,
                [&](int64_t ih, int64_t iw) { return image[(ih * g.w + iw) * g.c + c]; });
            y[o + c] = best.value;
            argmax[o + c] = uint8_t(best.tap < 0 ? 0 : best.tap);
          }
        }
  }, x_, y_);
}

void max_pool2d_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy_, const uint8_t* argmax,
                              void* dx_) {
  with_cpu_float_buffers(dtype, "max_pool2d_nhwc backward", [&](const auto* dy, auto* dx) {
    using T = elem_t<decltype(dy)>;
    const int64_t image = g.h * g.w * g.c;
    // Parallel over images: windows of one image overlap, so each image scatters serially.
#pragma omp parallel for if (g.n * image > 16384)
    for (int64_t n = 0; n < g.n; ++n) {
      T* dxn = dx + n * image;
      for (int64_t i = 0; i < image; ++i) dxn[i] = T(0);
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const int64_t o = ((n * g.out_h + oh) * g.out_w + ow) * g.c;
          for (int64_t c = 0; c < g.c; ++c) {
            const int64_t tap = argmax[o + c];
            const int64_t ih = oh * g.stride - g.padding + tap / g.kernel;
            const int64_t iw = ow * g.stride - g.padding + tap % g.kernel;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;  // only an all-padding window
            dxn[(ih * g.w + iw) * g.c + c] += dy[o + c];
          }
        }
    }
  }, dy_, dx_);
}

void global_avg_pool_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x_, void* y_) {
  with_cpu_float_buffers(dtype, "global_avg_pool_nhwc", [&](const auto* x, auto* y) {
    using T = elem_t<decltype(x)>;
    const int64_t hw = g.h * g.w;
#pragma omp parallel for if (g.n * hw * g.c > 65536)
    for (int64_t n = 0; n < g.n; ++n) {
      std::vector<double> acc(size_t(g.c), 0.0);  // f64 accumulation, like the reduce reference
      for (int64_t p = 0; p < hw; ++p) {
        const T* px = x + (n * hw + p) * g.c;
        for (int64_t c = 0; c < g.c; ++c) acc[size_t(c)] += double(px[c]);
      }
      for (int64_t c = 0; c < g.c; ++c) y[n * g.c + c] = T(acc[size_t(c)] / double(hw));
    }
  }, x_, y_);
}

void global_avg_pool_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy_, void* dx_) {
  with_cpu_float_buffers(dtype, "global_avg_pool_nhwc backward", [&](const auto* dy, auto* dx) {
    using T = elem_t<decltype(dy)>;
    const int64_t hw = g.h * g.w;
    const T inv = T(1) / T(hw);
#pragma omp parallel for if (g.n * hw * g.c > 65536)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t p = 0; p < hw; ++p) {
        T* px = dx + (n * hw + p) * g.c;
        for (int64_t c = 0; c < g.c; ++c) px[c] = dy[n * g.c + c] * inv;
      }
  }, dy_, dx_);
}

}  // namespace iqa::kernels::cpu
