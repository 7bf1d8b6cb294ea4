// SIND's scale-shift loss and LocalGlobal fusion head as autograd ops, each one kernel forward and one
// kernel (or one scaling) backward. Math and gradient derivations: kernels/scale_shift_loss.h and
// kernels/fusion_head.h.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/fusion_head.h"
#include "kernels/scale_shift_loss.h"

namespace iqa {

namespace {

// Both scene losses are one launch of the same kernel; `norm` says whether each side is normalised.
Tensor scene_loss(const char* op, const Tensor& pred, const Tensor& mos, const Tensor& scene_ids, double eps,
                  kernels::SceneLossNorm norm) {
  IQA_CHECK(pred.shape() == mos.shape(), op, ": pred ", pred.str(), " and mos ", mos.str(), " differ in shape");
  IQA_CHECK(pred.numel() > 0, op, ": empty batch ", pred.str());
  IQA_CHECK(scene_ids.dtype() == DType::I64 && scene_ids.numel() == pred.numel(), op, ": scene_ids must be i64 with ",
            pred.numel(), " elements, got ", scene_ids.str());
  IQA_CHECK(eps >= 0, op, ": eps ", eps, " must be >= 0");
  check_same_device(op, {pred, mos, scene_ids});
  check_compute_dtype(op, pred);
  check_same_dtype(op, pred, mos);

  const Tensor p = pred.detach().contiguous(), m = mos.detach().contiguous(), s = scene_ids.contiguous();
  const bool want_grad = any_requires_grad({pred, mos});
  const bool grad_pred = want_grad && pred.requires_grad(), grad_mos = want_grad && mos.requires_grad();
  Tensor out = Tensor::empty({}, pred.dtype(), pred.device());
  // The gradient for an upstream 1 comes out of the forward launch; backward only scales it.
  Tensor unit_grad_pred = grad_pred ? Tensor::empty(pred.shape(), pred.dtype(), pred.device()) : Tensor();
  Tensor unit_grad_mos = grad_mos ? Tensor::empty(mos.shape(), mos.dtype(), mos.device()) : Tensor();
  void* gp = grad_pred ? unit_grad_pred.raw_data() : nullptr;
  void* gm = grad_mos ? unit_grad_mos.raw_data() : nullptr;
  if (pred.device().is_cpu()) {
    kernels::cpu::scale_shift_loss(pred.dtype(), p.raw_data(), m.raw_data(), s.data<int64_t>(), p.numel(), eps,
                                   out.raw_data(), gp, gm, norm);
  } else {
    IQA_ON_CUDA({
      Tensor workspace = Tensor::empty({int64_t(kernels::cuda::scale_shift_loss_workspace_bytes(p.numel()))},
                                       DType::U8, pred.device());
      kernels::cuda::scale_shift_loss(pred.dtype(), p.raw_data(), m.raw_data(), s.data<int64_t>(), p.numel(), eps,
                                      out.raw_data(), gp, gm, workspace.raw_data(), cuda::current_stream(), norm);
    });
  }
  record(op, out, {pred, mos}, [unit_grad_pred, unit_grad_mos](const Tensor& g) {
    return std::vector<Tensor>{unit_grad_pred.defined() ? mul(unit_grad_pred, g) : Tensor(),
                               unit_grad_mos.defined() ? mul(unit_grad_mos, g) : Tensor()};
  });
  return out;
}

}  // namespace

Tensor scale_shift_loss(const Tensor& pred, const Tensor& mos, const Tensor& scene_ids, double eps) {
  return scene_loss("scale_shift_loss", pred, mos, scene_ids, eps, kernels::SceneLossNorm::RobustScaleShift);
}

Tensor scene_l1_loss(const Tensor& pred, const Tensor& mos, const Tensor& scene_ids) {
  return scene_loss("scene_l1_loss", pred, mos, scene_ids, 0.0, kernels::SceneLossNorm::None);
}

Tensor local_global_head(const Tensor& global_cls, const Tensor& local_tokens, const Tensor& weight,
                         const Tensor& bias) {
  const char* op = "local_global_head";
  IQA_CHECK(global_cls.dim() == 2 && local_tokens.dim() == 3 && global_cls.size(0) == local_tokens.size(0) &&
                local_tokens.size(0) > 0 && local_tokens.size(1) > 0 && local_tokens.size(2) > 0,
            op, ": need global_cls [B, G] and local_tokens [B, N, D] with B, N, D > 0, got ", global_cls.str(), " and ",
            local_tokens.str());
  const kernels::FusionHeadShape shape{global_cls.size(0), global_cls.size(1), local_tokens.size(1),
                                       local_tokens.size(2)};
  IQA_CHECK(weight.shape() == Shape({1, shape.global + shape.width}), op, ": weight must be [1, ",
            shape.global + shape.width, "], got ", weight.str());
  IQA_CHECK(bias.shape() == Shape({1}), op, ": bias must be [1], got ", bias.str());
  check_same_device(op, {global_cls, local_tokens, weight, bias});
  check_compute_dtype(op, global_cls);
  for (const Tensor* t : {&local_tokens, &weight, &bias}) check_same_dtype(op, global_cls, *t);

  const DType dtype = global_cls.dtype();
  const Device device = global_cls.device();
  const Tensor g = global_cls.detach().contiguous(), tokens = local_tokens.detach().contiguous();
  const Tensor w = weight.detach().contiguous(), b = bias.detach().contiguous();
  Tensor out = Tensor::empty({shape.batch, 1}, dtype, device);
  // The token means, saved for the weight gradient: f32 on CUDA (the accumulation type), else dtype.
  Tensor token_mean = Tensor::empty({shape.batch, shape.width}, device.is_cpu() ? dtype : DType::F32, device);
  if (device.is_cpu())
    kernels::cpu::fusion_head_forward(dtype, shape, g.raw_data(), tokens.raw_data(), w.raw_data(), b.raw_data(),
                                      out.raw_data(), token_mean.raw_data());
  else
    IQA_ON_CUDA(kernels::cuda::fusion_head_forward(dtype, shape, g.raw_data(), tokens.raw_data(), w.raw_data(),
                                                   b.raw_data(), out.raw_data(), token_mean.data<float>(),
                                                   cuda::current_stream()));

  record(op, out, {global_cls, local_tokens, weight, bias}, [shape, g, w, token_mean](const Tensor& grad) {
    const Tensor dq = grad.contiguous();
    const DType dt = g.dtype();
    const Device dev = g.device();
    Tensor dg = Tensor::empty({shape.batch, shape.global}, dt, dev);
    Tensor dtokens = Tensor::empty({shape.batch, shape.tokens, shape.width}, dt, dev);
    Tensor dw = Tensor::empty({1, shape.global + shape.width}, dt, dev);
    Tensor db = Tensor::empty({1}, dt, dev);
    if (dev.is_cpu())
      kernels::cpu::fusion_head_backward(dt, shape, dq.raw_data(), g.raw_data(), token_mean.raw_data(), w.raw_data(),
                                         dg.raw_data(), dtokens.raw_data(), dw.raw_data(), db.raw_data());
    else
      IQA_ON_CUDA(kernels::cuda::fusion_head_backward(dt, shape, dq.raw_data(), g.raw_data(), token_mean.data<float>(),
                                                      w.raw_data(), dg.raw_data(), dtokens.raw_data(), dw.raw_data(),
                                                      db.raw_data(), cuda::current_stream()));
    return std::vector<Tensor>{dg, dtokens, dw, db};
  });
  return out;
}

}  // namespace iqa
