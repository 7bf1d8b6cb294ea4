// Channels-last (NHWC) conv2d, batch_norm2d and pools: argument checks, the CPU/CUDA branch, one
// backward rule each. Same numbers as the NCHW ops of engine/ops_conv.cpp on permuted data; the
// kernels (kernels/conv.h, batch_norm.h, pool.h, NHWC sections) see contiguous buffers only.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/batch_norm.h"
#include "kernels/conv.h"
#include "kernels/pool.h"

namespace iqa {

namespace {

Tensor contiguous_data(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// The convolution proper, on a KRSC weight [Cout, kh, kw, Cin/groups]; geometry already checked.
Tensor conv2d_nhwc_krsc(const Tensor& x, const Tensor& w_krsc, const Tensor& bias, const kernels::Conv2dGeometry& g) {
  const char* op = "conv2d_nhwc";
  Tensor xc = contiguous_data(x), wc = contiguous_data(w_krsc), bc = contiguous_data(bias);
  Tensor out = Tensor::empty({g.n, g.out_h, g.out_w, g.c_out}, x.dtype(), x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    const void* bp = bc.defined() ? bc.raw_data() : nullptr;
    if (x.device().is_cpu())
      kernels::cpu::conv2d_nhwc_forward(dt, g, xc.raw_data(), wc.raw_data(), bp, out.raw_data());
    else IQA_ON_CUDA(kernels::cuda::conv2d_nhwc_forward(dt, g, xc.raw_data(), wc.raw_data(), bp, out.raw_data(),
                                                       cuda::current_stream()));
  }
  const bool gx = x.requires_grad(), gw = w_krsc.requires_grad(), gb = bias.defined() && bias.requires_grad();
  record(op, out, {x, w_krsc, bias}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx, dw, db;
    const bool empty = gy.numel() == 0;
    if (gx) {
      dx = empty ? Tensor::zeros(xc.shape(), dt, xc.device()) : Tensor::empty(xc.shape(), dt, xc.device());
      if (!empty && dx.numel() > 0) {
        if (xc.device().is_cpu())
          kernels::cpu::conv2d_nhwc_backward_input(dt, g, gy.raw_data(), wc.raw_data(), dx.raw_data());
        else IQA_ON_CUDA(kernels::cuda::conv2d_nhwc_backward_input(dt, g, gy.raw_data(), wc.raw_data(),
                                                                  dx.raw_data(), cuda::current_stream()));
      }
    }
    if (gw) {
      dw = empty ? Tensor::zeros(wc.shape(), dt, wc.device()) : Tensor::empty(wc.shape(), dt, wc.device());
      if (!empty) {
        if (xc.device().is_cpu())
          kernels::cpu::conv2d_nhwc_backward_weight(dt, g, xc.raw_data(), gy.raw_data(), dw.raw_data());
        else IQA_ON_CUDA(kernels::cuda::conv2d_nhwc_backward_weight(dt, g, xc.raw_data(), gy.raw_data(),
                                                                   dw.raw_data(), cuda::current_stream()));
      }
    }
    if (gb) db = sum(gy, {0, 1, 2});
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

}  // namespace

// ------------------------------------------------------------------------------------- conv2d_nhwc

Tensor conv2d_nhwc(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding, int dilation,
                   int groups) {
  const char* op = "conv2d_nhwc";
  check_same_device(op, {x, weight, bias});
  check_compute_dtype(op, x);
  check_same_dtype(op, x, weight);
  if (bias.defined()) check_same_dtype(op, x, bias);
  IQA_CHECK(x.dim() == 4, "conv2d_nhwc: input must be [N, H, W, C], got ", x.str());
  IQA_CHECK(weight.dim() == 4, "conv2d_nhwc: weight must be [Cout, Cin/groups, kh, kw], got ", weight.str());
  IQA_CHECK(stride >= 1 && padding >= 0 && dilation >= 1 && groups >= 1, "conv2d_nhwc: invalid stride ", stride,
            ", padding ", padding, ", dilation ", dilation, " or groups ", groups);
  kernels::Conv2dGeometry g;
  g.n = x.size(0), g.h = x.size(1), g.w = x.size(2), g.c_in = x.size(3);
  g.c_out = weight.size(0), g.kh = weight.size(2), g.kw = weight.size(3);
  g.stride = stride, g.padding = padding, g.dilation = dilation, g.groups = groups;
  IQA_CHECK(g.c_in % groups == 0 && g.c_out % groups == 0, "conv2d_nhwc: groups ", groups,
            " must divide input channels ", g.c_in, " and output channels ", g.c_out);
  IQA_CHECK(weight.size(1) == g.c_in / groups, "conv2d_nhwc: weight ", weight.str(), " expects ",
            weight.size(1) * groups, " input channels with groups=", groups, ", input [N, H, W, C] is ", x.str());
  IQA_CHECK(!bias.defined() || bias.shape() == Shape{g.c_out}, "conv2d_nhwc: bias must be [", g.c_out, "], got ",
            bias.str());
  kernels::conv2d_output_size(g);
  IQA_CHECK(g.out_h >= 1 && g.out_w >= 1, "conv2d_nhwc: input ", x.str(), " is smaller than the dilated kernel ",
            weight.str(), " with padding ", padding);
  // cuDNN's NHWC kernels want the filter channels-last as well (KRSC); with a KCRS filter it falls
  // back to slow or non-tensor-core algorithms. The parameter keeps PyTorch's KCRS shape (checkpoints
  // load unchanged), so the op permutes a copy here: one small pass over the weights, recorded by
  // autograd so the weight's gradient flows back through the transpose. 1x1 kernels need no copy.
  Tensor w_krsc = weight.permute({0, 2, 3, 1}).contiguous();
  return conv2d_nhwc_krsc(x, w_krsc, bias, g);
}

// ------------------------------------------------------------------------------- batch_norm2d_nhwc

Tensor batch_norm2d_nhwc(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                         Tensor running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm2d_nhwc";
  check_same_device(op, {x, weight, bias, running_mean, running_var});
  check_compute_dtype(op, x);
  IQA_CHECK(x.dim() == 4, "batch_norm2d_nhwc: input must be [N, H, W, C], got ", x.str());
  const kernels::BatchNormGeometry g =
      kernels::batch_norm_nhwc_geometry(x.size(0) * x.size(1) * x.size(2), x.size(3));
  const Shape per_channel{g.c};
  for (const Tensor* p : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    IQA_CHECK(!p->defined() || (p->shape() == per_channel && is_floating(p->dtype())), "batch_norm2d_nhwc: ",
              p->str(), " must be a floating [", g.c, "] tensor for input ", x.str());
  if (weight.defined() && bias.defined()) check_same_dtype(op, weight, bias);
  for (const Tensor* p : {&weight, &bias})
    if (p->defined() && x.is_cuda()) check_compute_dtype(op, *p);
  IQA_CHECK(running_mean.defined() == running_var.defined(),
            "batch_norm2d_nhwc: give both running_mean and running_var or neither");
  if (running_mean.defined()) {
    check_same_dtype(op, running_mean, running_var);
    IQA_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(),
              "batch_norm2d_nhwc: running statistics are updated in place and must be contiguous");
  }
  IQA_CHECK(training || running_mean.defined(), "batch_norm2d_nhwc: eval mode needs running_mean and running_var");
  IQA_CHECK(!training || g.count() > 1, "batch_norm2d_nhwc: training needs more than one value per channel, got ",
            x.str());

  const DType dt = x.dtype();
  const bool on_cpu = x.device().is_cpu();
  const DType stat_dt = on_cpu ? dt : DType::F32;  // the CUDA kernels keep statistics in f32
  const DType param_dt = weight.defined() ? weight.dtype() : bias.defined() ? bias.dtype() : stat_dt;
  const DType running_dt = running_mean.defined() ? running_mean.dtype() : stat_dt;
  Tensor xc = contiguous_data(x), wc = contiguous_data(weight), bc = contiguous_data(bias);
  Tensor mean = Tensor::empty(per_channel, stat_dt, x.device());
  Tensor invstd = Tensor::empty(per_channel, stat_dt, x.device());
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  void* rm = running_mean.defined() ? running_mean.raw_data() : nullptr;
  void* rv = running_var.defined() ? running_var.raw_data() : nullptr;
  const void* wp = wc.defined() ? wc.raw_data() : nullptr;
  const void* bp = bc.defined() ? bc.raw_data() : nullptr;
  // The CPU reference kernels are layout-generic for hw = 1 (kernels/batch_norm.h); on CUDA only the
  // reductions have NHWC versions, which need a scratch buffer for their per-chunk partial sums.
  if (on_cpu) {
    if (training) kernels::cpu::batch_norm_train_stats(dt, g, xc.raw_data(), eps, momentum, rm, rv, running_dt,
                                                       mean.raw_data(), invstd.raw_data());
    else kernels::cpu::batch_norm_eval_stats(g, rm, rv, running_dt, eps, stat_dt, mean.raw_data(), invstd.raw_data());
    kernels::cpu::batch_norm_apply(dt, g, xc.raw_data(), mean.raw_data(), invstd.raw_data(), wp, bp, param_dt,
                                   out.raw_data());
  } else {
    IQA_ON_CUDA({
      cudaStream_t s = cuda::current_stream();
      if (training) {
        Tensor partials = Tensor::empty({kernels::batch_norm_nhwc_partials_size(g)}, DType::F32, x.device());
        kernels::cuda::batch_norm_nhwc_train_stats(dt, g, xc.raw_data(), eps, momentum, rm, rv, running_dt,
                                                   mean.data<float>(), invstd.data<float>(), partials.data<float>(),
                                                   s);
      } else {
        kernels::cuda::batch_norm_eval_stats(g, rm, rv, running_dt, eps, mean.data<float>(), invstd.data<float>(), s);
      }
      kernels::cuda::batch_norm_apply(dt, g, xc.raw_data(), mean.data<float>(), invstd.data<float>(), wp, bp,
                                      param_dt, out.raw_data(), s);
    });
  }

  const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
             gb = bias.defined() && bias.requires_grad();
  record(op, out, {x, weight, bias}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor sum_dy = Tensor::empty(per_channel, stat_dt, gy.device());
    Tensor sum_dy_xhat = Tensor::empty(per_channel, stat_dt, gy.device());
    Tensor dx = gx ? Tensor::empty(xc.shape(), dt, xc.device()) : Tensor();
    const void* w = wc.defined() ? wc.raw_data() : nullptr;
    if (on_cpu) {
      kernels::cpu::batch_norm_backward_reduce(dt, g, gy.raw_data(), xc.raw_data(), mean.raw_data(), invstd.raw_data(),
                                               sum_dy.raw_data(), sum_dy_xhat.raw_data());
      if (gx) kernels::cpu::batch_norm_backward_input(dt, g, gy.raw_data(), xc.raw_data(), mean.raw_data(),
                                                      invstd.raw_data(), w, param_dt, sum_dy.raw_data(),
                                                      sum_dy_xhat.raw_data(), training, dx.raw_data());
    } else {
      IQA_ON_CUDA({
        cudaStream_t s = cuda::current_stream();
        Tensor partials = Tensor::empty({kernels::batch_norm_nhwc_partials_size(g)}, DType::F32, gy.device());
        kernels::cuda::batch_norm_nhwc_backward_reduce(dt, g, gy.raw_data(), xc.raw_data(), mean.data<float>(),
                                                       invstd.data<float>(), sum_dy.data<float>(),
                                                       sum_dy_xhat.data<float>(), partials.data<float>(), s);
        if (gx) kernels::cuda::batch_norm_backward_input(dt, g, gy.raw_data(), xc.raw_data(), mean.data<float>(),
                                                         invstd.data<float>(), w, param_dt, sum_dy.data<float>(),
                                                         sum_dy_xhat.data<float>(), training, dx.raw_data(), s);
      });
    }
    // d/dweight = sum dy * xhat, d/dbias = sum dy (in the parameters' own dtype).
    return std::vector<Tensor>{dx, gw ? sum_dy_xhat.to(param_dt) : Tensor(), gb ? sum_dy.to(param_dt) : Tensor()};
  });
  return out;
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
  IQA_CHECK(kernel >= 1 && stride >= 1, op, ": kernel ", kernel, " and stride ", stride, " must be positive");
  IQA_CHECK(kernel <= kernels::kMaxPoolNhwcMaxKernel, op, ": kernel ", kernel, " exceeds ",
            kernels::kMaxPoolNhwcMaxKernel, " (the argmax is a u8 window offset)");
  IQA_CHECK(padding >= 0 && 2 * padding <= kernel, op, ": padding ", padding, " must be in [0, kernel/2] for kernel ",
            kernel);
  IQA_CHECK(g.h + 2 * padding >= kernel && g.w + 2 * padding >= kernel, op, ": input ", x.str(),
            " is smaller than the kernel ", kernel, " with padding ", padding);
  g.kernel = kernel, g.stride = stride, g.padding = padding;
  g.out_h = (g.h + 2 * padding - kernel) / stride + 1;
  g.out_w = (g.w + 2 * padding - kernel) / stride + 1;
  Tensor xc = contiguous_data(x);
  Tensor out = Tensor::empty({g.n, g.out_h, g.out_w, g.c}, x.dtype(), x.device());
  Tensor argmax = Tensor::empty(out.shape(), DType::U8, x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    if (x.device().is_cpu())
      kernels::cpu::max_pool2d_nhwc_forward(dt, g, xc.raw_data(), out.raw_data(), argmax.data<uint8_t>());
    else IQA_ON_CUDA(kernels::cuda::max_pool2d_nhwc_forward(dt, g, xc.raw_data(), out.raw_data(),
                                                           argmax.data<uint8_t>(), cuda::current_stream()));
  }
  const Shape in_shape = x.shape();
  record(op, out, {x}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx = Tensor::zeros(in_shape, dt, gy.device());
    if (gy.numel() > 0) {
      if (gy.device().is_cpu())
        kernels::cpu::max_pool2d_nhwc_backward(dt, g, gy.raw_data(), argmax.data<uint8_t>(), dx.raw_data());
      else IQA_ON_CUDA(kernels::cuda::max_pool2d_nhwc_backward(dt, g, gy.raw_data(), argmax.data<uint8_t>(),
                                                              dx.raw_data(), cuda::current_stream()));
    }
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor global_avg_pool2d_nhwc(const Tensor& x) {
  const char* op = "global_avg_pool2d_nhwc";
  const kernels::Pool2dNhwcGeometry g = nhwc_pool_geometry(x, op);
  IQA_CHECK(g.h >= 1 && g.w >= 1, op, ": empty spatial size in ", x.str());
  Tensor xc = contiguous_data(x);
  Tensor out = Tensor::empty({g.n, g.c}, x.dtype(), x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    if (x.device().is_cpu()) kernels::cpu::global_avg_pool_nhwc_forward(dt, g, xc.raw_data(), out.raw_data());
    else IQA_ON_CUDA(kernels::cuda::global_avg_pool_nhwc_forward(dt, g, xc.raw_data(), out.raw_data(),
                                                                cuda::current_stream()));
  }
  const Shape in_shape = x.shape();
  record(op, out, {x}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx = Tensor::empty(in_shape, dt, gy.device());
    if (dx.numel() > 0) {
      if (gy.device().is_cpu()) kernels::cpu::global_avg_pool_nhwc_backward(dt, g, gy.raw_data(), dx.raw_data());
      else IQA_ON_CUDA(kernels::cuda::global_avg_pool_nhwc_backward(dt, g, gy.raw_data(), dx.raw_data(),
                                                                   cuda::current_stream()));
    }
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace iqa
