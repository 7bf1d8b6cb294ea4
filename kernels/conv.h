// 2-D convolution, NCHW, cross-correlation (PyTorch's conv2d): forward and the two backward products.
// CPU: im2col + GEMM per image (kernels/cpu/conv.cpp), groups run as a batched GEMM. CUDA: cuDNN
// (kernels/cuda/conv.cu). All buffers contiguous; x [n, c_in, h, w], weight [c_out, c_in/groups, kh, kw],
// y [n, c_out, out_h, out_w], bias [c_out] or nullptr.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

struct Conv2dGeometry {
  int64_t n = 0, c_in = 0, h = 0, w = 0;
  int64_t c_out = 0, kh = 0, kw = 0;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  int64_t out_h = 0, out_w = 0;  // filled by conv2d_output_size()

  int64_t c_in_per_group() const { return c_in / groups; }
  int64_t c_out_per_group() const { return c_out / groups; }
};

// Output spatial size: floor((in + 2p - d(k-1) - 1) / s) + 1, written into g.out_h / g.out_w.
inline void conv2d_output_size(Conv2dGeometry& g) {
  g.out_h = (g.h + 2 * g.padding - g.dilation * (g.kh - 1) - 1) / g.stride + 1;
  g.out_w = (g.w + 2 * g.padding - g.dilation * (g.kw - 1) - 1) / g.stride + 1;
}

namespace cpu {
// cols [channels * kh * kw, out_h * out_w] from one image [channels, h, w]; zero where the window
// reads padding. Row r = (c * kh + i) * kw + j, column = oh * out_w + ow.
void im2col(DType dtype, const void* image, void* cols, int64_t channels, const Conv2dGeometry& g);
// The adjoint of im2col: adds every column entry back into `image` (which the caller zeroes).
void col2im(DType dtype, const void* cols, void* image, int64_t channels, const Conv2dGeometry& g);

// dtype f32 or f64 for every buffer.
void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* weight, const void* bias,
                    void* y);
void conv2d_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* weight, void* dx);
void conv2d_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy, void* dweight);
}  // namespace cpu

namespace cuda {
// dtype f32, bf16 or f16 (f32 accumulation; f32 runs without TF32 so it matches the CPU reference).
void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* weight, const void* bias,
                    void* y, cudaStream_t stream);
void conv2d_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* weight, void* dx,
                           cudaStream_t stream);
void conv2d_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy, void* dweight,
                            cudaStream_t stream);
}  // namespace cuda

// ---- channels-last (NHWC) -------------------------------------------------------------------------
// Same geometry, other memory order: x [n, h, w, c_in], y [n, out_h, out_w, c_out], and the weight in
// KRSC order [c_out, kh, kw, c_in/groups] (cuDNN's filter layout for NHWC tensors; engine/ops_nhwc.cpp
// permutes PyTorch's [c_out, c_in/groups, kh, kw] into it). bias [c_out] or nullptr.
namespace cpu {
// dtype f32 or f64. An NHWC im2col ([out_h*out_w, kh*kw*c_in/groups] per group) + GEMM per image.
void conv2d_nhwc_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* weight_krsc,
                         const void* bias, void* y);
void conv2d_nhwc_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* weight_krsc,
                                void* dx);
void conv2d_nhwc_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy,
                                 void* dweight_krsc);
}  // namespace cpu

namespace cuda {
// cuDNN with CUDNN_TENSOR_NHWC descriptors (kernels/cuda/conv.cu); same dtypes and algorithm rules.
void conv2d_nhwc_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* weight_krsc,
                         const void* bias, void* y, cudaStream_t stream);
void conv2d_nhwc_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* weight_krsc,
                                void* dx, cudaStream_t stream);
void conv2d_nhwc_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy,
                                 void* dweight_krsc, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
