// 2-D pooling on contiguous NCHW buffers, seen as `planes` = n*c independent [h, w] images.
// max: windows read -inf outside the image (padding never wins), argmax saved as h*w + w index.
// avg: count_include_pad=True, ceil_mode=False, so every window divides by kernel*kernel.
// adaptive avg: output bin i covers [floor(i*in/out), ceil((i+1)*in/out)) like torch.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

struct Pool2dGeometry {
  int64_t planes = 0, h = 0, w = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t kernel = 1, stride = 1, padding = 0;  // unused by the adaptive pool
};

namespace cpu {
// dtype f32 or f64. argmax: i64 [planes, out_h, out_w].
void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, int64_t* argmax);
// dx (zeroed here) receives dy at each window's argmax.
void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, const int64_t* argmax, void* dx);
void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y);
void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx);
void adaptive_avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y);
void adaptive_avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx);
}  // namespace cpu

namespace cuda {
// dtype f32, bf16 or f16. Backward kernels gather (one thread per input pixel sums the windows that
// cover it), so they need no atomics and are deterministic.
void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, int64_t* argmax,
                        cudaStream_t stream);
void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, const int64_t* argmax, void* dx,
                         cudaStream_t stream);
void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, cudaStream_t stream);
void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx, cudaStream_t stream);
void adaptive_avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, cudaStream_t stream);
void adaptive_avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx,
                                  cudaStream_t stream);
}  // namespace cuda

// ---- channels-last (NHWC) -------------------------------------------------------------------------
// x [n, h, w, c] contiguous, y [n, out_h, out_w, c]. Max pool windows as above (-inf padding, NaN
// wins, first maximum kept). Its argmax is u8 [n, out_h, out_w, c]: the winning tap's offset i*kernel
// + j inside the window (kernel <= 15), an eighth of an i64 index's traffic. Global average pool:
// y [n, c] = mean over the h*w pixels (ResNet's final pool, torch's adaptive_avg_pool2d(1) + flatten).
struct Pool2dNhwcGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t kernel = 1, stride = 1, padding = 0;
};
constexpr int64_t kMaxPoolNhwcMaxKernel = 15;  // kernel * kernel taps must fit the u8 argmax

namespace cpu {
// dtype f32 or f64.
void max_pool2d_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x, void* y, uint8_t* argmax);
// dx (written in full) receives dy at each window's argmax.
void max_pool2d_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy, const uint8_t* argmax,
                              void* dx);
// Uses n, c, h, w only.
void global_avg_pool_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x, void* y);
void global_avg_pool_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy, void* dx);
}  // namespace cpu

namespace cuda {
// dtype f32, bf16 or f16; f32 accumulation. Max-pool backward gathers per input element (deterministic).
void max_pool2d_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x, void* y, uint8_t* argmax,
                             cudaStream_t stream);
void max_pool2d_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy, const uint8_t* argmax,
                              void* dx, cudaStream_t stream);
void global_avg_pool_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x, void* y,
                                  cudaStream_t stream);
void global_avg_pool_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy, void* dx,
                                   cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
