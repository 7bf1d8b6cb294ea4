// CPU convolution: im2col turns each image into a [c*kh*kw, out_h*out_w] matrix so the convolution is
// one GEMM per image (groups become the GEMM's batch, since each group's rows and weights are
// contiguous blocks). Backward: dX = col2im(W^T dY), dW = sum over images of dY cols^T.
#include <vector>

#include "kernels/conv.h"
#include "kernels/cpu/conv_gemm.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"
#include "kernels/gemm.h"

namespace iqa::kernels::cpu {

namespace {

template <class T>
void im2col_typed(const T* image, T* cols, int64_t channels, const Conv2dGeometry& g) {
  const int64_t out_hw = g.out_h * g.out_w;
  const int64_t rows = channels * g.kh * g.kw;
#pragma omp parallel for if (rows * out_hw > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t j = r % g.kw, i = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
    const T* plane = image + c * g.h * g.w;
    T* dst = cols + r * out_hw;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t ih = oh * g.stride - g.padding + i * g.dilation;
      T* drow = dst + oh * g.out_w;
      if (ih < 0 || ih >= g.h) {
        for (int64_t ow = 0; ow < g.out_w; ++ow) drow[ow] = T(0);
        continue;
      }
      const T* srow = plane + ih * g.w;
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t iw = ow * g.stride - g.padding + j * g.dilation;
        drow[ow] = (iw >= 0 && iw < g.w) ? srow[iw] : T(0);
      }
    }
  }
}

template <class T>
void col2im_typed(const T* cols, T* image, int64_t channels, const Conv2dGeometry& g) {
  const int64_t out_hw = g.out_h * g.out_w;
  // Parallel over channels: rows of different channels never write the same pixel.
#pragma omp parallel for if (channels * g.kh * g.kw * out_hw > 32768)
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = image + c * g.h * g.w;
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* src = cols + ((c * g.kh + i) * g.kw + j) * out_hw;
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride - g.padding + i * g.dilation;
          if (ih < 0 || ih >= g.h) continue;
          T* prow = plane + ih * g.w;
          const T* srow = src + oh * g.out_w;
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const int64_t iw = ow * g.stride - g.padding + j * g.dilation;
            if (iw >= 0 && iw < g.w) prow[iw] += srow[ow];
          }
        }
      }
  }
}


template <class T>
void forward_typed(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y, DType dtype) {
  const ConvGroupSizes s(g);
  std::vector<T> cols(size_t(g.c_in * g.kh * g.kw * s.out_hw));
  for (int64_t n = 0; n < g.n; ++n) {
    im2col_typed(x + n * g.c_in * g.h * g.w, cols.data(), g.c_in, g);
    GemmArgs a;
    a.m = s.cog, a.n = s.out_hw, a.k = s.kg;
    a.a = w, a.lda = s.kg, a.stride_a = s.cog * s.kg;
    a.b = cols.data(), a.ldb = s.out_hw, a.stride_b = s.kg * s.out_hw;
    T* yn = y + n * g.c_out * s.out_hw;
    a.c = yn, a.ldc = s.out_hw, a.stride_c = s.cog * s.out_hw;
    a.batch = g.groups;
    a.dtype = dtype;
    gemm(a);
    if (bias) {
      for (int64_t c = 0; c < g.c_out; ++c) {
        T* plane = yn + c * s.out_hw;
        for (int64_t p = 0; p < s.out_hw; ++p) plane[p] += bias[c];
      }
    }
  }
}

template <class T>
void backward_input_typed(const Conv2dGeometry& g, const T* dy, const T* w, T* dx, DType dtype) {
  const ConvGroupSizes s(g);
  std::vector<T> dcols(size_t(g.c_in * g.kh * g.kw * s.out_hw));
  for (int64_t n = 0; n < g.n; ++n) {
    // dcols_g [kg, out_hw] = W_g^T [kg, cog] * dY_g [cog, out_hw]
    GemmArgs a;
    a.m = s.kg, a.n = s.out_hw, a.k = s.cog;
    a.trans_a = true, a.a = w, a.lda = s.kg, a.stride_a = s.cog * s.kg;
    a.b = dy + n * g.c_out * s.out_hw, a.ldb = s.out_hw, a.stride_b = s.cog * s.out_hw;
    a.c = dcols.data(), a.ldc = s.out_hw, a.stride_c = s.kg * s.out_hw;
    a.batch = g.groups;
    a.dtype = dtype;
    gemm(a);
    T* dxn = dx + n * g.c_in * g.h * g.w;
    for (int64_t i = 0; i < g.c_in * g.h * g.w; ++i) dxn[i] = T(0);
    col2im_typed(dcols.data(), dxn, g.c_in, g);
  }
}

template <class T>
void backward_weight_typed(const Conv2dGeometry& g, const T* x, const T* dy, T* dw, DType dtype) {
  const ConvGroupSizes s(g);
  if (zero_weight_grad_if_no_images(g, s, dw)) return;
  std::vector<T> cols(size_t(g.c_in * g.kh * g.kw * s.out_hw));
  for (int64_t n = 0; n < g.n; ++n) {
    im2col_typed(x + n * g.c_in * g.h * g.w, cols.data(), g.c_in, g);
    // dW_g [cog, kg] (+)= dY_g [cog, out_hw] * cols_g^T [out_hw, kg].
    GemmArgs a = weight_grad_gemm(g, s, dw, n == 0, dtype);
    a.k = s.out_hw;
    a.a = dy + n * g.c_out * s.out_hw, a.lda = s.out_hw, a.stride_a = s.cog * s.out_hw;
    a.trans_b = true, a.b = cols.data(), a.ldb = s.out_hw, a.stride_b = s.kg * s.out_hw;
    gemm(a);
  }
}

}  // namespace

// The CPU backend computes in f32/f64 (with_cpu_float names the op when given another dtype).
void im2col(DType dtype, const void* image, void* cols, int64_t channels, const Conv2dGeometry& g) {
  with_cpu_float(dtype, "im2col", [&](auto t) { im2col_typed(typed(t, image), typed(t, cols), channels, g); });
}

void col2im(DType dtype, const void* cols, void* image, int64_t channels, const Conv2dGeometry& g) {
  with_cpu_float(dtype, "col2im", [&](auto t) { col2im_typed(typed(t, cols), typed(t, image), channels, g); });
}

void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias, void* y) {
  with_cpu_float(dtype, "conv2d", [&](auto t) {
    forward_typed(g, typed(t, x), typed(t, w), typed(t, bias), typed(t, y), dtype);
  });
}

void conv2d_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w, void* dx) {
  with_cpu_float(dtype, "conv2d backward",
                 [&](auto t) { backward_input_typed(g, typed(t, dy), typed(t, w), typed(t, dx), dtype); });
}

void conv2d_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy, void* dw) {
  with_cpu_float(dtype, "conv2d backward",
                 [&](auto t) { backward_weight_typed(g, typed(t, x), typed(t, dy), typed(t, dw), dtype); });
}

}  // namespace iqa::kernels::cpu
