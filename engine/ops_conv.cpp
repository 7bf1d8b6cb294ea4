// conv2d, batch_norm2d and the 2-D pools (NCHW): argument checks, the CPU/CUDA branch, one backward
// rule each. The kernels (kernels/conv.h, batch_norm.h, pool.h) see contiguous buffers only.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/batch_norm.h"
#include "kernels/conv.h"
#include "kernels/pool.h"

namespace iqa {

namespace {

Tensor contiguous_data(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

}  // namespace

// ------------------------------------------------------------------------------------------ conv2d

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding, int dilation,
              int groups) {
  const char* op = "conv2d";
  check_same_device(op, {x, weight, bias});
  check_compute_dtype(op, x);
  check_same_dtype(op, x, weight);
  if (bias.defined()) check_same_dtype(op, x, bias);
  IQA_CHECK(x.dim() == 4, "conv2d: input must be [N, C, H, W], got ", x.str());
  IQA_CHECK(weight.dim() == 4, "conv2d: weight must be [Cout, Cin/groups, kh, kw], got ", weight.str());
  IQA_CHECK(stride >= 1 && padding >= 0 && dilation >= 1 && groups >= 1, "conv2d: invalid stride ", stride,
            ", padding ", padding, ", dilation ", dilation, " or groups ", groups);
  kernels::Conv2dGeometry g;
  g.n = x.size(0), g.c_in = x.size(1), g.h = x.size(2), g.w = x.size(3);
  g.c_out = weight.size(0), g.kh = weight.size(2), g.kw = weight.size(3);
  g.stride = stride, g.padding = padding, g.dilation = dilation, g.groups = groups;
  IQA_CHECK(g.c_in % groups == 0 && g.c_out % groups == 0, "conv2d: groups ", groups, " must divide input channels ",
            g.c_in, " and output channels ", g.c_out);
  IQA_CHECK(weight.size(1) == g.c_in / groups, "conv2d: weight ", weight.str(), " expects ", weight.size(1) * groups,
            " input channels with groups=", groups, ", input is ", x.str());
  IQA_CHECK(!bias.defined() || bias.shape() == Shape{g.c_out}, "conv2d: bias must be [", g.c_out, "], got ",
            bias.str());
  kernels::conv2d_output_size(g);
  IQA_CHECK(g.out_h >= 1 && g.out_w >= 1, "conv2d: input ", x.str(), " is smaller than the dilated kernel ",
            weight.str(), " with padding ", padding);

  Tensor xc = contiguous_data(x), wc = contiguous_data(weight), bc = contiguous_data(bias);
  Tensor out = Tensor::empty({g.n, g.c_out, g.out_h, g.out_w}, x.dtype(), x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    const void* bp = bc.defined() ? bc.raw_data() : nullptr;
    if (x.device().is_cpu()) kernels::cpu::conv2d_forward(dt, g, xc.raw_data(), wc.raw_data(), bp, out.raw_data());
    else IQA_ON_CUDA(kernels::cuda::conv2d_forward(dt, g, xc.raw_data(), wc.raw_data(), bp, out.raw_data(),
                                                  cuda::current_stream()));
  }
  const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  record(op, out, {x, weight, bias}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx, dw, db;
    const bool empty = gy.numel() == 0;
    if (gx) {
      dx = empty ? Tensor::zeros(xc.shape(), dt, xc.device()) : Tensor::empty(xc.shape(), dt, xc.device());
      if (!empty && dx.numel() > 0) {
        if (xc.device().is_cpu())
          kernels::cpu::conv2d_backward_input(dt, g, gy.raw_data(), wc.raw_data(), dx.raw_data());
        else IQA_ON_CUDA(kernels::cuda::conv2d_backward_input(dt, g, gy.raw_data(), wc.raw_data(), dx.raw_data(),
                                                             cuda::current_stream()));
      }
    }
    if (gw) {
      dw = empty ? Tensor::zeros(wc.shape(), dt, wc.device()) : Tensor::empty(wc.shape(), dt, wc.device());
      if (!empty) {
        if (xc.device().is_cpu())
          kernels::cpu::conv2d_backward_weight(dt, g, xc.raw_data(), gy.raw_data(), dw.raw_data());
        else IQA_ON_CUDA(kernels::cuda::conv2d_backward_weight(dt, g, xc.raw_data(), gy.raw_data(), dw.raw_data(),
                                                              cuda::current_stream()));
      }
    }
    if (gb) db = sum(gy, {0, 2, 3});
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

// ------------------------------------------------------------------------------------ batch_norm2d

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                    Tensor running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm2d";
  check_same_device(op, {x, weight, bias, running_mean, running_var});
  check_compute_dtype(op, x);
  IQA_CHECK(x.dim() == 4, "batch_norm2d: input must be [N, C, H, W], got ", x.str());
  kernels::BatchNormGeometry g;
  g.n = x.size(0), g.c = x.size(1), g.hw = x.size(2) * x.size(3);
  const Shape per_channel{g.c};
  for (const Tensor* p : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    IQA_CHECK(!p->defined() || (p->shape() == per_channel && is_floating(p->dtype())), "batch_norm2d: ", p->str(),
              " must be a floating [", g.c, "] tensor for input ", x.str());
  if (weight.defined() && bias.defined()) check_same_dtype(op, weight, bias);
  for (const Tensor* p : {&weight, &bias})
    if (p->defined() && x.is_cuda()) check_compute_dtype(op, *p);
  IQA_CHECK(running_mean.defined() == running_var.defined(),
            "batch_norm2d: give both running_mean and running_var or neither");
  if (running_mean.defined()) {
    check_same_dtype(op, running_mean, running_var);
    IQA_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(),
              "batch_norm2d: running statistics are updated in place and must be contiguous");
  }
  IQA_CHECK(training || running_mean.defined(), "batch_norm2d: eval mode needs running_mean and running_var");
  IQA_CHECK(!training || g.count() > 1, "batch_norm2d: training needs more than one value per channel, got ", x.str());

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
  if (on_cpu) {
    if (training) kernels::cpu::batch_norm_train_stats(dt, g, xc.raw_data(), eps, momentum, rm, rv, running_dt,
                                                       mean.raw_data(), invstd.raw_data());
    else kernels::cpu::batch_norm_eval_stats(g, rm, rv, running_dt, eps, stat_dt, mean.raw_data(), invstd.raw_data());
    kernels::cpu::batch_norm_apply(dt, g, xc.raw_data(), mean.raw_data(), invstd.raw_data(), wp, bp, param_dt,
                                   out.raw_data());
  } else {
    IQA_ON_CUDA({
      cudaStream_t s = cuda::current_stream();
      if (training) kernels::cuda::batch_norm_train_stats(dt, g, xc.raw_data(), eps, momentum, rm, rv, running_dt,
                                                          mean.data<float>(), invstd.data<float>(), s);
      else kernels::cuda::batch_norm_eval_stats(g, rm, rv, running_dt, eps, mean.data<float>(), invstd.data<float>(),
                                                s);
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
        kernels::cuda::batch_norm_backward_reduce(dt, g, gy.raw_data(), xc.raw_data(), mean.data<float>(),
                                                  invstd.data<float>(), sum_dy.data<float>(), sum_dy_xhat.data<float>(),
                                                  s);
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
  IQA_CHECK(kernel >= 1 && stride >= 1, op, ": kernel ", kernel, " and stride ", stride, " must be positive");
  IQA_CHECK(padding >= 0 && 2 * padding <= kernel, op, ": padding ", padding, " must be in [0, kernel/2] for kernel ",
            kernel);
  IQA_CHECK(g.h + 2 * padding >= kernel && g.w + 2 * padding >= kernel, op, ": input ", x.str(),
            " is smaller than the kernel ", kernel, " with padding ", padding);
  g.kernel = kernel, g.stride = stride, g.padding = padding;
  g.out_h = (g.h + 2 * padding - kernel) / stride + 1;
  g.out_w = (g.w + 2 * padding - kernel) / stride + 1;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "max_pool2d";
  kernels::Pool2dGeometry g = pool_planes(x, op);
  set_window(g, x, kernel, stride, padding, op);
  Tensor xc = contiguous_data(x);
  Tensor out = Tensor::empty(pooled_shape(x, g), x.dtype(), x.device());
  Tensor argmax = Tensor::empty(out.shape(), DType::I64, x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    if (x.device().is_cpu())
      kernels::cpu::max_pool2d_forward(dt, g, xc.raw_data(), out.raw_data(), argmax.data<int64_t>());
    else IQA_ON_CUDA(kernels::cuda::max_pool2d_forward(dt, g, xc.raw_data(), out.raw_data(), argmax.data<int64_t>(),
                                                      cuda::current_stream()));
  }
  Shape in_shape = x.shape();
  record(op, out, {x}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx = Tensor::zeros(in_shape, dt, gy.device());
    if (gy.numel() > 0) {
      if (gy.device().is_cpu())
        kernels::cpu::max_pool2d_backward(dt, g, gy.raw_data(), argmax.data<int64_t>(), dx.raw_data());
      else IQA_ON_CUDA(kernels::cuda::max_pool2d_backward(dt, g, gy.raw_data(), argmax.data<int64_t>(), dx.raw_data(),
                                                         cuda::current_stream()));
    }
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "avg_pool2d";
  kernels::Pool2dGeometry g = pool_planes(x, op);
  set_window(g, x, kernel, stride, padding, op);
  Tensor xc = contiguous_data(x);
  Tensor out = Tensor::empty(pooled_shape(x, g), x.dtype(), x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    if (x.device().is_cpu()) kernels::cpu::avg_pool2d_forward(dt, g, xc.raw_data(), out.raw_data());
    else IQA_ON_CUDA(kernels::cuda::avg_pool2d_forward(dt, g, xc.raw_data(), out.raw_data(), cuda::current_stream()));
  }
  Shape in_shape = x.shape();
  record(op, out, {x}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx = Tensor::zeros(in_shape, dt, gy.device());
    if (gy.numel() > 0) {
      if (gy.device().is_cpu()) kernels::cpu::avg_pool2d_backward(dt, g, gy.raw_data(), dx.raw_data());
      else IQA_ON_CUDA(kernels::cuda::avg_pool2d_backward(dt, g, gy.raw_data(), dx.raw_data(), cuda::current_stream()));
    }
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int out_h, int out_w) {
  const char* op = "adaptive_avg_pool2d";
  kernels::Pool2dGeometry g = pool_planes(x, op);
  IQA_CHECK(out_h >= 1 && out_w >= 1, op, ": output size ", out_h, "x", out_w, " must be positive");
  IQA_CHECK(g.h >= 1 && g.w >= 1, op, ": empty spatial size in ", x.str());
  g.out_h = out_h, g.out_w = out_w;
  Tensor xc = contiguous_data(x);
  Tensor out = Tensor::empty(pooled_shape(x, g), x.dtype(), x.device());
  const DType dt = x.dtype();
  if (out.numel() > 0) {
    if (x.device().is_cpu()) kernels::cpu::adaptive_avg_pool2d_forward(dt, g, xc.raw_data(), out.raw_data());
    else IQA_ON_CUDA(kernels::cuda::adaptive_avg_pool2d_forward(dt, g, xc.raw_data(), out.raw_data(),
                                                               cuda::current_stream()));
  }
  Shape in_shape = x.shape();
  record(op, out, {x}, [=](const Tensor& grad) {
    Tensor gy = grad.detach().contiguous();
    Tensor dx = Tensor::zeros(in_shape, dt, gy.device());
    if (gy.numel() > 0) {
      if (gy.device().is_cpu()) kernels::cpu::adaptive_avg_pool2d_backward(dt, g, gy.raw_data(), dx.raw_data());
      else IQA_ON_CUDA(kernels::cuda::adaptive_avg_pool2d_backward(dt, g, gy.raw_data(), dx.raw_data(),
                                                                  cuda::current_stream()));
    }
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace iqa
