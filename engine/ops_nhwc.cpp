// Channels-last (NHWC) conv2d and pools (batch_norm2d_nhwc: engine/ops_batch_norm.cpp). Same numbers as the NCHW ops of
// engine/ops_conv.cpp on permuted data; conv and batch norm share those ops' bodies
// (engine/ops_conv_shared.h), the pools have their own kernels (u8 argmax, a global average pool).
// The kernels (kernels/conv.h, batch_norm.h, pool.h, NHWC sections) see contiguous buffers only.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_conv_shared.h"
#include "kernels/pool.h"

namespace iqa {

using conv_family::Layout;

// ------------------------------------------------------------------------------------- conv2d_nhwc

Tensor conv2d_nhwc(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding, int dilation,
                   int groups) {
  const char* op = "conv2d_nhwc";
  const kernels::Conv2dGeometry g =
      conv_family::conv2d_checked_geometry(op, Layout::NHWC, x, weight, bias, stride, padding, dilation, groups);
  // cuDNN's NHWC kernels want the filter channels-last as well (KRSC); with a KCRS filter it falls
  // back to slow or non-tensor-core algorithms. The parameter keeps PyTorch's KCRS shape (checkpoints
  // load unchanged), so the op permutes a copy here: one small pass over the weights, recorded by
  // autograd so the weight's gradient flows back through the transpose. 1x1 kernels need no copy.
  Tensor w_krsc = weight.permute({0, 2, 3, 1}).contiguous();
  return conv_family::conv2d_run(op, Layout::NHWC, x, w_krsc, bias, g);
}

// ------------------------------------------------------------------------------------------- pools

namespace {

kernels::Pool2dNhwcGeometry nhwc_pool_geometry(const Tensor& x, const char* op) {
  check_compute_dtype(op, x);
  IQA_CHECK(x.dim() == 4, op, ": input must be [N, H, W, C], got ", x.str());
  kernels::Pool2dNhwcGeometry g;
  g.n = x.size(0), g.h = x.size(1), g.w = x.size(2), g.c = x.size(3);
  return g;
}

}  // namespace

Tensor max_pool2d_nhwc(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "max_pool2d_nhwc";
  kernels::Pool2dNhwcGeometry g = nhwc_pool_geometry(x, op);
  IQA_CHECK(kernel <= kernels::kMaxPoolNhwcMaxKernel, op, ": kernel ", kernel, " exceeds ",
            kernels::kMaxPoolNhwcMaxKernel, " (the argmax is a u8 window offset)");
  const conv_family::PoolWindowOut o = conv_family::pool_window_checked(op, x, g.h, g.w, kernel, stride, padding);
  g.kernel = kernel, g.stride = stride, g.padding = padding;
  g.out_h = o.out_h, g.out_w = o.out_w;
  const Shape out_shape{g.n, g.out_h, g.out_w, g.c};
  Tensor argmax = Tensor::empty(out_shape, DType::U8, x.device());
  const DType dt = x.dtype();
  return conv_family::pool_op(
      op, x, out_shape, false,
      [&](const Tensor& xc, Tensor& out) {
        IQA_POOL_KERNEL(xc.device(), max_pool2d_nhwc_forward, dt, g, xc.raw_data(), out.raw_data(),
                        argmax.data<uint8_t>());
      },
      [=](const Tensor& gy, Tensor& dx) {
        IQA_POOL_KERNEL(gy.device(), max_pool2d_nhwc_backward, dt, g, gy.raw_data(), argmax.data<uint8_t>(),
                        dx.raw_data());
      });
}

Tensor global_avg_pool2d_nhwc(const Tensor& x) {
  const char* op = "global_avg_pool2d_nhwc";
  const kernels::Pool2dNhwcGeometry g = nhwc_pool_geometry(x, op);
  IQA_CHECK(g.h >= 1 && g.w >= 1, op, ": empty spatial size in ", x.str());
  const DType dt = x.dtype();
  // The backward kernel writes every element of dx (each pixel gets its image's dy / (h*w)).
  return conv_family::pool_op(
      op, x, Shape{g.n, g.c}, true,
      [&](const Tensor& xc, Tensor& out) {
        IQA_POOL_KERNEL(xc.device(), global_avg_pool_nhwc_forward, dt, g, xc.raw_data(), out.raw_data());
      },
      [=](const Tensor& gy, Tensor& dx) {
        IQA_POOL_KERNEL(gy.device(), global_avg_pool_nhwc_backward, dt, g, gy.raw_data(), dx.raw_data());
      });
}

}  // namespace iqa
