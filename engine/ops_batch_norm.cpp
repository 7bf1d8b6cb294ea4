// batch_norm2d and batch_norm2d_nhwc, and their shared body (engine/ops_conv_shared.h): argument checks, the
// CPU/CUDA branch and the backward rule, once for both layouts. An NCHW buffer is the kernels'
// geometry {n = N, c = C, hw = H*W}; an NHWC one is {n = N*H*W, c = C, hw = 1}, for which the CPU
// kernels and the CUDA apply / backward_input are already right. Only the CUDA per-channel reductions
// have NHWC versions (kernels/batch_norm.h), which need a scratch buffer for per-chunk partial sums.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_conv_shared.h"
#include "kernels/batch_norm.h"

namespace iqa::conv_family {

namespace {

// Checks the arguments and returns x's geometry for the kernels.
kernels::BatchNormGeometry checked_geometry(const char* op, Layout layout, const Tensor& x, const Tensor& weight,
                                            const Tensor& bias, const Tensor& running_mean,
                                            const Tensor& running_var, bool training) {
  check_same_device(op, {x, weight, bias, running_mean, running_var});
  check_compute_dtype(op, x);
  IQA_CHECK(x.dim() == 4, op, ": input must be ", layout_dims(layout), ", got ", x.str());
  kernels::BatchNormGeometry g;
  if (layout == Layout::NHWC) g = kernels::batch_norm_nhwc_geometry(x.size(0) * x.size(1) * x.size(2), x.size(3));
  else g.n = x.size(0), g.c = x.size(1), g.hw = x.size(2) * x.size(3);
  for (const Tensor* p : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    IQA_CHECK(!p->defined() || (p->shape() == Shape{g.c} && is_floating(p->dtype())), op, ": ", p->str(),
              " must be a floating [", g.c, "] tensor for input ", x.str());
  if (weight.defined() && bias.defined()) check_same_dtype(op, weight, bias);
  for (const Tensor* p : {&weight, &bias})
    if (p->defined() && x.is_cuda()) check_compute_dtype(op, *p);
  IQA_CHECK(running_mean.defined() == running_var.defined(), op,
            ": give both running_mean and running_var or neither");
  if (running_mean.defined()) {
    check_same_dtype(op, running_mean, running_var);
    IQA_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(), op,
              ": running statistics are updated in place and must be contiguous");
  }
  IQA_CHECK(training || running_mean.defined(), op, ": eval mode needs running_mean and running_var");
  IQA_CHECK(!training || g.count() > 1, op, ": training needs more than one value per channel, got ", x.str());
  return g;
}

}  // namespace

Tensor batch_norm2d_run(const char* op, Layout layout, const Tensor& x, const Tensor& weight, const Tensor& bias,
                        Tensor running_mean, Tensor running_var, bool training, double momentum, double eps) {
  const kernels::BatchNormGeometry g =
      checked_geometry(op, layout, x, weight, bias, running_mean, running_var, training);
  const bool nhwc = layout == Layout::NHWC;
  const Shape per_channel{g.c};
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
      float *m = mean.data<float>(), *is = invstd.data<float>();
      if (training && nhwc) {
        Tensor partials = Tensor::empty({kernels::batch_norm_nhwc_partials_size(g)}, DType::F32, x.device());
        kernels::cuda::batch_norm_nhwc_train_stats(dt, g, xc.raw_data(), eps, momentum, rm, rv, running_dt, m, is,
                                                   partials.data<float>(), s);
      } else if (training) {
        kernels::cuda::batch_norm_train_stats(dt, g, xc.raw_data(), eps, momentum, rm, rv, running_dt, m, is, s);
      } else {
        kernels::cuda::batch_norm_eval_stats(g, rm, rv, running_dt, eps, m, is, s);
      }
      kernels::cuda::batch_norm_apply(dt, g, xc.raw_data(), m, is, wp, bp, param_dt, out.raw_data(), s);
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
        const float *m = mean.data<float>(), *is = invstd.data<float>();
        float *sd = sum_dy.data<float>(), *sdx = sum_dy_xhat.data<float>();
        if (nhwc) {
          Tensor partials = Tensor::empty({kernels::batch_norm_nhwc_partials_size(g)}, DType::F32, gy.device());
          kernels::cuda::batch_norm_nhwc_backward_reduce(dt, g, gy.raw_data(), xc.raw_data(), m, is, sd, sdx,
                                                         partials.data<float>(), s);
        } else {
          kernels::cuda::batch_norm_backward_reduce(dt, g, gy.raw_data(), xc.raw_data(), m, is, sd, sdx, s);
        }
        if (gx) kernels::cuda::batch_norm_backward_input(dt, g, gy.raw_data(), xc.raw_data(), m, is, w, param_dt, sd,
                                                         sdx, training, dx.raw_data(), s);
      });
    }
    // d/dweight = sum dy * xhat, d/dbias = sum dy (in the parameters' own dtype).
    return std::vector<Tensor>{dx, gw ? sum_dy_xhat.to(param_dt) : Tensor(), gb ? sum_dy.to(param_dt) : Tensor()};
  });
  return out;
}

}  // namespace iqa::conv_family

namespace iqa {

// The public ops, one per layout.
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                    Tensor running_var, bool training, double momentum, double eps) {
  return conv_family::batch_norm2d_run("batch_norm2d", conv_family::Layout::NCHW, x, weight, bias,
                                       std::move(running_mean), std::move(running_var), training, momentum, eps);
}
Tensor batch_norm2d_nhwc(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                         Tensor running_var, bool training, double momentum, double eps) {
  return conv_family::batch_norm2d_run("batch_norm2d_nhwc", conv_family::Layout::NHWC, x, weight, bias,
                                       std::move(running_mean), std::move(running_var), training, momentum, eps);
}

}  // namespace iqa
