// conv2d, batch_norm2d and the 2-D pools (NCHW): argument checks, the CPU/CUDA branch, one backward
// rule each. The conv and batch-norm bodies are written once for both layouts (engine/ops_conv_shared.h;
// engine/ops_nhwc.cpp holds the channels-last wrappers). The kernels (kernels/conv.h, batch_norm.h,
// pool.h) see contiguous buffers only.
#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_conv_shared.h"
#include "kernels/batch_norm.h"
#include "kernels/conv.h"
#include "kernels/pool.h"

namespace iqa {

namespace conv_family {

// ------------------------------------------------------------------------------------ convolution

kernels::Conv2dGeometry conv2d_checked_geometry(const char* op, Layout layout, const Tensor& x, const Tensor& weight,
                                                const Tensor& bias, int stride, int padding, int dilation,
                                                int groups) {
  check_same_device(op, {x, weight, bias});
  check_compute_dtype(op, x);
  check_same_dtype(op, x, weight);
  if (bias.defined()) check_same_dtype(op, x, bias);
  IQA_CHECK(x.dim() == 4, op, ": input must be ", layout_dims(layout), ", got ", x.str());
  IQA_CHECK(weight.dim() == 4, op, ": weight must be [Cout, Cin/groups, kh, kw], got ", weight.str());
  IQA_CHECK(stride >= 1 && padding >= 0 && dilation >= 1 && groups >= 1, op, ": invalid stride ", stride,
            ", padding ", padding, ", dilation ", dilation, " or groups ", groups);
  const bool nchw = layout == Layout::NCHW;
  kernels::Conv2dGeometry g;
  g.n = x.size(0), g.c_in = x.size(nchw ? 1 : 3), g.h = x.size(nchw ? 2 : 1), g.w = x.size(nchw ? 3 : 2);
  g.c_out = weight.size(0), g.kh = weight.size(2), g.kw = weight.size(3);
  g.stride = stride, g.padding = padding, g.dilation = dilation, g.groups = groups;
  IQA_CHECK(g.c_in % groups == 0 && g.c_out % groups == 0, op, ": groups ", groups, " must divide input channels ",
            g.c_in, " and output channels ", g.c_out);
  IQA_CHECK(weight.size(1) == g.c_in / groups, op, ": weight ", weight.str(), " expects ", weight.size(1) * groups,
            " input channels with groups=", groups, ", input ", layout_dims(layout), " is ", x.str());
  IQA_CHECK(!bias.defined() || bias.shape() == Shape{g.c_out}, op, ": bias must be [", g.c_out, "], got ",
            bias.str());
  kernels::conv2d_output_size(g);
  IQA_CHECK(g.out_h >= 1 && g.out_w >= 1, op, ": input ", x.str(), " is smaller than the dilated kernel ",
            weight.str(), " with padding ", padding);
  return g;
}

namespace {

// The kernels of one layout; both sets share signatures (kernels/conv.h).
struct ConvKernels {
  decltype(&kernels::cpu::conv2d_forward) cpu_forward;
  decltype(&kernels::cpu::conv2d_backward_input) cpu_backward_input;
  decltype(&kernels::cpu::conv2d_backward_weight) cpu_backward_weight;
#ifdef IQA_WITH_CUDA
  decltype(&kernels::cuda::conv2d_forward) cuda_forward;
  decltype(&kernels::cuda::conv2d_backward_input) cuda_backward_input;
  decltype(&kernels::cuda::conv2d_backward_weight) cuda_backward_weight;
#endif
};

ConvKernels conv_kernels(Layout layout) {
  namespace cpu = kernels::cpu;
  if (layout == Layout::NCHW)
    return {cpu::conv2d_forward, cpu::conv2d_backward_input, cpu::conv2d_backward_weight
#ifdef IQA_WITH_CUDA
            , kernels::cuda::conv2d_forward, kernels::cuda::conv2d_backward_input, kernels::cuda::conv2d_backward_weight
#endif
    };
  return {cpu::conv2d_nhwc_forward, cpu::conv2d_nhwc_backward_input, cpu::conv2d_nhwc_backward_weight
#ifdef IQA_WITH_CUDA
          , kernels::cuda::conv2d_nhwc_forward, kernels::cuda::conv2d_nhwc_backward_input,
          kernels::cuda::conv2d_nhwc_backward_weight
#endif
  };
}

}  // namespace

Tensor conv2d_run(const char* op, Layout layout, const Tensor& x, const Tensor& filter, const Tensor& bias,
                  const kernels::Conv2dGeometry& g) {
  const ConvKernels k = conv_kernels(layout);
  const bool nchw = layout == Layout::NCHW;
  Tensor xc = contiguous_data(x), wc = contiguous_data(filter), bc = contiguous_data(bias);
  const Shape out_shape = nchw ? Shape{g.n, g.c_out, g.out_h, g.out_w} : Shape{g.n, g.out_h, g.out_w, g.c_out};
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    const void* bp = bc.defined() ? bc.raw_data() : nullptr;
    if (x.device().is_cpu()) k.cpu_forward(dt, g, xc.raw_data(), wc.raw_data(), bp, out.raw_data());
    else IQA_ON_CUDA(k.cuda_forward(dt, g, xc.raw_data(), wc.raw_data(), bp, out.raw_data(), cuda::current_stream()));
  }
  const bool gx = x.requires_grad(), gw = filter.requires_grad(), gb = bias.defined() && bias.requires_grad();
  const std::vector<int> pixel_dims = nchw ? std::vector<int>{0, 2, 3} : std::vector<int>{0, 1, 2};
  record(op, out, {x, filter, bias}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx, dw, db;
    const bool empty = gy.numel() == 0;
    if (gx) {
      dx = empty ? Tensor::zeros(xc.shape(), dt, xc.device()) : Tensor::empty(xc.shape(), dt, xc.device());
      if (!empty && dx.numel() > 0) {
        if (xc.device().is_cpu()) k.cpu_backward_input(dt, g, gy.raw_data(), wc.raw_data(), dx.raw_data());
        else IQA_ON_CUDA(k.cuda_backward_input(dt, g, gy.raw_data(), wc.raw_data(), dx.raw_data(),
                                               cuda::current_stream()));
      }
    }
    if (gw) {
      dw = empty ? Tensor::zeros(wc.shape(), dt, wc.device()) : Tensor::empty(wc.shape(), dt, wc.device());
      if (!empty) {
        if (xc.device().is_cpu()) k.cpu_backward_weight(dt, g, xc.raw_data(), gy.raw_data(), dw.raw_data());
        else IQA_ON_CUDA(k.cuda_backward_weight(dt, g, xc.raw_data(), gy.raw_data(), dw.raw_data(),
                                                cuda::current_stream()));
      }
    }
    if (gb) db = sum(gy, pixel_dims);
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

}  // namespace conv_family

using conv_family::Layout;

// ------------------------------------------------------------------------------------------ conv2d

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding, int dilation,
              int groups) {
  if (amp::autocast_active())  // the autocast table (engine/amp.cpp): lowered
    return amp::dispatch1(amp::Op::Conv2d, {x, weight, bias}, [&](const std::vector<Tensor>& in) {
      return conv2d(in[0], in[1], in[2], stride, padding, dilation, groups);
    });
  const kernels::Conv2dGeometry g =
      conv_family::conv2d_checked_geometry("conv2d", Layout::NCHW, x, weight, bias, stride, padding, dilation, groups);
  return conv_family::conv2d_run("conv2d", Layout::NCHW, x, weight, bias, g);
}

// ------------------------------------------------------------------------------------------- pools

namespace {

// [N, C, H, W] or [C, H, W] as planes of [H, W].
kernels::Pool2dGeometry pool_planes(const Tensor& x, const char* op) {
  check_compute_dtype(op, x);
  IQA_CHECK(x.dim() == 3 || x.dim() == 4, op, ": input must be [N, C, H, W] or [C, H, W], got ", x.str());
  kernels::Pool2dGeometry g;
  g.h = x.size(-2), g.w = x.size(-1);
  g.planes = x.dim() == 4 ? x.size(0) * x.size(1) : x.size(0);
  return g;
}

Shape pooled_shape(const Tensor& x, const kernels::Pool2dGeometry& g) {
  Shape s = x.shape();
  s[s.size() - 2] = g.out_h;
  s[s.size() - 1] = g.out_w;
  return s;
}

void set_window(kernels::Pool2dGeometry& g, const Tensor& x, int kernel, int stride, int padding, const char* op) {
  const conv_family::PoolWindowOut o = conv_family::pool_window_checked(op, x, g.h, g.w, kernel, stride, padding);
  g.kernel = kernel, g.stride = stride, g.padding = padding;
  g.out_h = o.out_h, g.out_w = o.out_w;
}

}  // namespace

namespace conv_family {

PoolWindowOut pool_window_checked(const char* op, const Tensor& x, int64_t h, int64_t w, int kernel, int stride,
                                  int padding) {
  IQA_CHECK(kernel >= 1 && stride >= 1, op, ": kernel ", kernel, " and stride ", stride, " must be positive");
  IQA_CHECK(padding >= 0 && 2 * padding <= kernel, op, ": padding ", padding, " must be in [0, kernel/2] for kernel ",
            kernel);
  IQA_CHECK(h + 2 * padding >= kernel && w + 2 * padding >= kernel, op, ": input ", x.str(),
            " is smaller than the kernel ", kernel, " with padding ", padding);
  return {(h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1};
}

}  // namespace conv_family

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "max_pool2d";
  kernels::Pool2dGeometry g = pool_planes(x, op);
  set_window(g, x, kernel, stride, padding, op);
  const Shape out_shape = pooled_shape(x, g);
  Tensor argmax = Tensor::empty(out_shape, DType::I64, x.device());
  const DType dt = x.dtype();
  return conv_family::pool_op(
      op, x, out_shape, false,
      [&](const Tensor& xc, Tensor& out) {
        IQA_POOL_KERNEL(xc.device(), max_pool2d_forward, dt, g, xc.raw_data(), out.raw_data(), argmax.data<int64_t>());
      },
      [=](const Tensor& gy, Tensor& dx) {
        IQA_POOL_KERNEL(gy.device(), max_pool2d_backward, dt, g, gy.raw_data(), argmax.data<int64_t>(), dx.raw_data());
      });
}

// The average pools save nothing for backward: kernels NAME_forward (x -> y) and NAME_backward (dy -> dx,
// dx zeroed first since overlapping windows add into it).
#define IQA_AVERAGING_POOL(op, x, g, NAME)                                                      \
  conv_family::pool_op(                                                                         \
      op, x, pooled_shape(x, g), false,                                                         \
      [&, dt = x.dtype()](const Tensor& xc, Tensor& out) {                                      \
        IQA_POOL_KERNEL(xc.device(), NAME##_forward, dt, g, xc.raw_data(), out.raw_data());     \
      },                                                                                        \
      [=, dt = x.dtype()](const Tensor& gy, Tensor& dx) {                                       \
        IQA_POOL_KERNEL(gy.device(), NAME##_backward, dt, g, gy.raw_data(), dx.raw_data());     \
      })

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "avg_pool2d";
  kernels::Pool2dGeometry g = pool_planes(x, op);
  set_window(g, x, kernel, stride, padding, op);
  return IQA_AVERAGING_POOL(op, x, g, avg_pool2d);
}

Tensor adaptive_avg_pool2d(const Tensor& x, int out_h, int out_w) {
  const char* op = "adaptive_avg_pool2d";
  kernels::Pool2dGeometry g = pool_planes(x, op);
  IQA_CHECK(out_h >= 1 && out_w >= 1, op, ": output size ", out_h, "x", out_w, " must be positive");
  IQA_CHECK(g.h >= 1 && g.w >= 1, op, ": empty spatial size in ", x.str());
  g.out_h = out_h, g.out_w = out_w;
  return IQA_AVERAGING_POOL(op, x, g, adaptive_avg_pool2d);
}

}  // namespace iqa
