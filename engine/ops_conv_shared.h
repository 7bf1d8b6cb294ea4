// The conv-family logic that engine/ops_conv.cpp (NCHW) and engine/ops_nhwc.cpp (channels-last) share:
// argument checks, geometry, the CPU/CUDA branch and the backward rule are the same for both layouts;
// only the kernels called and the order of the dims differ, so each op body exists once, here
// parameterised by the layout, and the public ops of engine/ops.h are thin wrappers. Internal to the
// two op files.
#pragma once
#include <vector>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/tensor.h"
#include "kernels/conv.h"

namespace iqa::conv_family {

enum class Layout { NCHW, NHWC };

inline const char* layout_dims(Layout layout) { return layout == Layout::NCHW ? "[N, C, H, W]" : "[N, H, W, C]"; }

inline Tensor contiguous_data(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// Checks conv2d's arguments (x in `layout`, weight in PyTorch's [Cout, Cin/groups, kh, kw]) and returns
// the geometry with the output size filled in.
kernels::Conv2dGeometry conv2d_checked_geometry(const char* op, Layout layout, const Tensor& x, const Tensor& weight,
                                                const Tensor& bias, int stride, int padding, int dilation, int groups);

// The convolution proper, forward + recorded backward, on a filter already in the layout's order
// (NCHW: [Cout, Cin/groups, kh, kw]; NHWC: KRSC [Cout, kh, kw, Cin/groups]).
Tensor conv2d_run(const char* op, Layout layout, const Tensor& x, const Tensor& filter, const Tensor& bias,
                  const kernels::Conv2dGeometry& g);

// batch_norm2d for either layout: statistics per channel over every other dim.
Tensor batch_norm2d_run(const char* op, Layout layout, const Tensor& x, const Tensor& weight, const Tensor& bias,
                        Tensor running_mean, Tensor running_var, bool training, double momentum, double eps);

// Output size of a square pooling window (kernel, stride, padding) over an h x w image, after checking
// the window fits; PyTorch's floor rule.
struct PoolWindowOut {
  int64_t out_h, out_w;
};
PoolWindowOut pool_window_checked(const char* op, const Tensor& x, int64_t h, int64_t w, int kernel, int stride,
                                  int padding);

// Runs kernels::cpu::NAME(args...) when `device` is the CPU, else kernels::cuda::NAME(args..., stream):
// the pool kernels of both backends share their signatures up to the trailing stream.
#define IQA_POOL_KERNEL(device, NAME, ...)                                                    \
  do {                                                                                        \
    if ((device).is_cpu()) ::iqa::kernels::cpu::NAME(__VA_ARGS__);                            \
    else IQA_ON_CUDA(::iqa::kernels::cuda::NAME(__VA_ARGS__, ::iqa::cuda::current_stream())); \
  } while (0)

// The skeleton every pool op shares: x made contiguous, forward(xc, out) when out has elements, and a
// recorded backward(gy, dx) into dx of x's shape when there is anything to write; dx is zeroed first
// unless the backward kernel writes every element. forward and backward run the CPU or CUDA kernel;
// backward is kept by the autograd node, so it must capture by value.
template <class Forward, class Backward>
Tensor pool_op(const char* op, const Tensor& x, const Shape& out_shape, bool backward_writes_all, Forward forward,
               Backward backward) {
  Tensor xc = contiguous_data(x);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel() > 0) forward(xc, out);
  const Shape in_shape = x.shape();
  const DType dt = x.dtype();
  record(op, out, {x}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx =
        backward_writes_all ? Tensor::empty(in_shape, dt, gy.device()) : Tensor::zeros(in_shape, dt, gy.device());
    if (gy.numel() > 0 && dx.numel() > 0) backward(gy, dx);
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace iqa::conv_family
