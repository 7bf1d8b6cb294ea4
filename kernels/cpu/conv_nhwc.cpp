// CPU channels-last convolution, the reference for the cuDNN NHWC path. In NHWC a pixel's channels
// are contiguous, so the im2col row of output pixel p is its window's taps laid out (i, j, c): that
// is exactly a KRSC filter row, and the convolution is Y[pixels, c_out] = cols[pixels, K] W^T per
// group (K = kh*kw*c_in/groups). A 1x1, stride-1, unpadded conv needs no im2col at all: the input
// itself is the [n*h*w, c_in] matrix, so the whole batch is one GEMM (ResNet's conv1/conv3/downsample
// at stride 1 are that case).
#include <vector>

#include "kernels/conv.h"
#include "kernels/cpu/conv_gemm.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"
#include "kernels/gemm.h"

namespace iqa::kernels::cpu {

namespace {

// ConvGroupSizes' kg is also an NHWC cols row: kh*kw taps of c_in/groups channels, (i, j, c) order.
struct NhwcSizes : ConvGroupSizes {
  int64_t cg, in_hw;  // input channels per group, input pixels
  bool direct;        // 1x1 / stride 1 / no padding: the input is the cols matrix
  // GEMMs to run and the pixel rows of each: the direct case runs the batch as one image of n*h*w pixels.
  int64_t images, pixels;
  size_t cols_elements;  // of the im2col scratch (none when direct)
  explicit NhwcSizes(const Conv2dGeometry& g)
      : ConvGroupSizes(g), cg(g.c_in_per_group()), in_hw(g.h * g.w),
        direct(g.kh == 1 && g.kw == 1 && g.stride == 1 && g.padding == 0), images(direct ? 1 : g.n),
        pixels(direct ? g.n * out_hw : out_hw), cols_elements(direct ? 0 : size_t(g.groups * out_hw * kg)) {}
};

// cols [groups, out_hw, kg] of one image [h, w, c_in]; zero where a tap reads padding.
template <class T>
void im2col_nhwc(const T* image, T* cols, const Conv2dGeometry& g, const NhwcSizes& s) {
#pragma omp parallel for collapse(2) if (g.groups * s.out_hw * s.kg > 32768)
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t p = 0; p < s.out_hw; ++p) {
      const int64_t oh = p / g.out_w, ow = p % g.out_w;
      T* row = cols + (grp * s.out_hw + p) * s.kg;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t ih = oh * g.stride - g.padding + i * g.dilation;
          const int64_t iw = ow * g.stride - g.padding + j * g.dilation;
          T* dst = row + (i * g.kw + j) * s.cg;
          if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) {
            for (int64_t c = 0; c < s.cg; ++c) dst[c] = T(0);
            continue;
          }
          const T* src = image + (ih * g.w + iw) * g.c_in + grp * s.cg;
          for (int64_t c = 0; c < s.cg; ++c) dst[c] = src[c];
        }
    }
}

// The adjoint: adds every cols entry back into `image` (zeroed by the caller). Parallel over groups
// only, since windows of different output pixels overlap on the same input pixels.
template <class T>
void col2im_nhwc(const T* cols, T* image, const Conv2dGeometry& g, const NhwcSizes& s) {
#pragma omp parallel for if (g.groups > 1 && g.groups * s.out_hw * s.kg > 32768)
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t p = 0; p < s.out_hw; ++p) {
      const int64_t oh = p / g.out_w, ow = p % g.out_w;
      const T* row = cols + (grp * s.out_hw + p) * s.kg;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t ih = oh * g.stride - g.padding + i * g.dilation;
          const int64_t iw = ow * g.stride - g.padding + j * g.dilation;
          if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
          const T* src = row + (i * g.kw + j) * s.cg;
          T* dst = image + (ih * g.w + iw) * g.c_in + grp * s.cg;
          for (int64_t c = 0; c < s.cg; ++c) dst[c] += src[c];
        }
    }
}

// Image n's im2col matrix [pixels, kg] per group, as a GEMM operand: the input itself when direct,
// else its im2col written into `cols`.
struct ColsOperand {
  const void* ptr;
  int64_t ld, group_stride;
};
template <class T>
ColsOperand cols_operand(const T* x, int64_t n, std::vector<T>& cols, const Conv2dGeometry& g, const NhwcSizes& s) {
  if (s.direct) return {x, g.c_in, s.cg};
  im2col_nhwc(x + n * s.in_hw * g.c_in, cols.data(), g, s);
  return {cols.data(), s.kg, s.out_hw * s.kg};
}

template <class T>
void forward_typed(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y, DType dtype) {
  const NhwcSizes s(g);
  std::vector<T> cols(s.cols_elements);
  for (int64_t n = 0; n < s.images; ++n) {
    const ColsOperand a_op = cols_operand(x, n, cols, g, s);
    // Y_g [pixels, cog] = cols_g [pixels, kg] * W_g^T, W_g stored [cog, kg]; written into the group's
    // column block of y (row stride c_out).
    GemmArgs a;
    a.m = s.pixels, a.n = s.cog, a.k = s.kg;
    a.a = a_op.ptr, a.lda = a_op.ld, a.stride_a = a_op.group_stride;
    a.trans_b = true, a.b = w, a.ldb = s.kg, a.stride_b = s.cog * s.kg;
    a.c = y + n * s.out_hw * g.c_out, a.ldc = g.c_out, a.stride_c = s.cog;
    a.batch = g.groups;
    a.dtype = dtype;
    gemm(a);
  }
  if (bias) {
    const int64_t rows = g.n * s.out_hw;
#pragma omp parallel for if (rows * g.c_out > 65536)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < g.c_out; ++c) y[r * g.c_out + c] += bias[c];
  }
}

template <class T>
void backward_input_typed(const Conv2dGeometry& g, const T* dy, const T* w, T* dx, DType dtype) {
  const NhwcSizes s(g);
  std::vector<T> dcols(s.cols_elements);
  for (int64_t n = 0; n < s.images; ++n) {
    // dcols_g [pixels, kg] = dY_g [pixels, cog] * W_g [cog, kg]; the direct case writes dx itself.
    GemmArgs a;
    a.m = s.pixels, a.n = s.kg, a.k = s.cog;
    a.a = dy + n * s.out_hw * g.c_out, a.lda = g.c_out, a.stride_a = s.cog;
    a.b = w, a.ldb = s.kg, a.stride_b = s.cog * s.kg;
    if (s.direct) a.c = dx, a.ldc = g.c_in, a.stride_c = s.cg;
    else a.c = dcols.data(), a.ldc = s.kg, a.stride_c = s.out_hw * s.kg;
    a.batch = g.groups;
    a.dtype = dtype;
    gemm(a);
    if (s.direct) continue;
    T* dxn = dx + n * s.in_hw * g.c_in;
    for (int64_t i = 0; i < s.in_hw * g.c_in; ++i) dxn[i] = T(0);
    col2im_nhwc(dcols.data(), dxn, g, s);
  }
}

template <class T>
void backward_weight_typed(const Conv2dGeometry& g, const T* x, const T* dy, T* dw, DType dtype) {
  const NhwcSizes s(g);
  if (zero_weight_grad_if_no_images(g, s, dw)) return;
  std::vector<T> cols(s.cols_elements);
  for (int64_t n = 0; n < s.images; ++n) {
    const ColsOperand b_op = cols_operand(x, n, cols, g, s);
    // dW_g [cog, kg] (+)= dY_g^T [cog, pixels] * cols_g [pixels, kg].
    GemmArgs a = weight_grad_gemm(g, s, dw, n == 0, dtype);
    a.k = s.pixels;
    a.trans_a = true, a.a = dy + n * s.out_hw * g.c_out, a.lda = g.c_out, a.stride_a = s.cog;
    a.b = b_op.ptr, a.ldb = b_op.ld, a.stride_b = b_op.group_stride;
    gemm(a);
  }
}

}  // namespace

void conv2d_nhwc_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* bias,
                         void* y) {
  with_cpu_float(dtype, "conv2d_nhwc", [&](auto tag) {
    using T = decltype(tag);
    forward_typed(g, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                  static_cast<T*>(y), dtype);
  });
}

void conv2d_nhwc_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* w, void* dx) {
  with_cpu_float(dtype, "conv2d_nhwc backward", [&](auto tag) {
    using T = decltype(tag);
    backward_input_typed(g, static_cast<const T*>(dy), static_cast<const T*>(w), static_cast<T*>(dx), dtype);
  });
}

void conv2d_nhwc_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy, void* dw) {
  with_cpu_float(dtype, "conv2d_nhwc backward", [&](auto tag) {
    using T = decltype(tag);
    backward_weight_typed(g, static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dw), dtype);
  });
}

}  // namespace iqa::kernels::cpu
