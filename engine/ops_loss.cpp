// Losses with mean reduction. Most are composed from differentiable ops so their gradients come for
// free; the soft-target cross-entropy is one fused kernel each way (kernels/cross_entropy.h).
// Semantics are torch.nn.functional's (l1_loss, mse_loss, smooth_l1_loss, cross_entropy).
#include <vector>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/cross_entropy.h"

namespace iqa {

namespace {
void check_pair(const char* op, const Tensor& pred, const Tensor& target) {
  IQA_CHECK(pred.shape() == target.shape(), op, ": pred ", pred.str(), " and target ", target.str(),
            " must have the same shape");
  IQA_CHECK(pred.numel() > 0, op, ": empty input ", pred.str());
  check_same_device(op, {pred, target});
  check_same_dtype(op, pred, target);
}

void check_logits(const char* op, const Tensor& logits) {
  IQA_CHECK(logits.dim() == 2 && logits.size(0) > 0 && logits.size(1) > 0, op, ": logits must be [N, C] with N, C > 0, got ",
            logits.str());
}
}  // namespace

Tensor l1_loss(const Tensor& pred, const Tensor& target) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::L1Loss, {pred, target}, [](const std::vector<Tensor>& in) { return l1_loss(in[0], in[1]); });
  check_pair("l1_loss", pred, target);
  return mean(abs(sub(pred, target)));
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::MseLoss, {pred, target}, [](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); });
  check_pair("mse_loss", pred, target);
  Tensor d = sub(pred, target);
  return mean(mul(d, d));
}

// 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere; beta = 0 is the plain L1 loss.
Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, double beta) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::SmoothL1Loss, {pred, target},
                          [beta](const std::vector<Tensor>& in) { return smooth_l1_loss(in[0], in[1], beta); });
  check_pair("smooth_l1_loss", pred, target);
  IQA_CHECK(beta >= 0, "smooth_l1_loss: beta ", beta, " must be >= 0");
  Tensor d = sub(pred, target);
  Tensor ad = abs(d);
  if (beta == 0) return mean(ad);
  Tensor quadratic = mul(mul(d, d), 0.5 / beta);
  Tensor linear_part = add(ad, -0.5 * beta);
  Tensor beta_t = Tensor::full({}, beta, ad.dtype(), ad.device());
  return mean(where(lt(ad, beta_t), quadratic, linear_part));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::CrossEntropy, {logits, target}, [](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1]); });
  check_logits("cross_entropy", logits);
  IQA_CHECK(target.dtype() == DType::I64 && target.dim() == 1 && target.size(0) == logits.size(0),
            "cross_entropy: target must be i64 [", logits.size(0), "] class indices, got ", target.str());
  check_same_device("cross_entropy", {logits, target});
  if (target.device().is_cpu()) {
    // A cheap host-side range check; on CUDA the gather kernel guards its own reads.
    int64_t c = logits.size(1);
    std::vector<int64_t> t = target.to_vector_i64();
    for (size_t i = 0; i < t.size(); ++i)
      IQA_CHECK(t[i] >= 0 && t[i] < c, "cross_entropy: target[", i, "] = ", t[i], " out of range for ", c,
                " classes");
  }
  Tensor picked = gather(log_softmax(logits, 1), 1, target.unsqueeze(1));  // [N, 1]
  return neg(mean(picked));
}

// Saves the row statistics (log-sum-exp, target sum) so the backward is one pass over logits and target.
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target_probs) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::CrossEntropySoft, {logits, target_probs}, [](const std::vector<Tensor>& in) { return cross_entropy_soft(in[0], in[1]); });
  check_logits("cross_entropy_soft", logits);
  check_pair("cross_entropy_soft", logits, target_probs);
  check_compute_dtype("cross_entropy_soft", logits);
  const int64_t rows = logits.size(0), cols = logits.size(1);
  Tensor xc = logits.detach().contiguous(), tc = target_probs.detach().contiguous();
  const bool on_cpu = logits.device().is_cpu();
  const DType stat = on_cpu ? logits.dtype() : DType::F32;
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({rows}, stat, logits.device()), tsum = Tensor::empty({rows}, stat, logits.device());
  if (on_cpu) {
    kernels::cpu::soft_cross_entropy_forward(logits.dtype(), xc.raw_data(), tc.raw_data(), loss.raw_data(),
                                             lse.raw_data(), tsum.raw_data(), rows, cols);
  } else {
    IQA_ON_CUDA({
      Tensor row_loss = Tensor::empty({rows}, DType::F32, logits.device());
      kernels::cuda::soft_cross_entropy_forward(logits.dtype(), xc.raw_data(), tc.raw_data(), loss.raw_data(),
                                                lse.data<float>(), tsum.data<float>(), row_loss.data<float>(), rows,
                                                cols, cuda::current_stream());
    });
  }
  const bool want_x = logits.requires_grad(), want_t = target_probs.requires_grad();
  record("cross_entropy_soft", loss, {logits, target_probs},
         [xc, tc, lse, tsum, rows, cols, want_x, want_t](const Tensor& g) {
           Tensor gc = g.dtype() == xc.dtype() ? g.contiguous() : g.to(xc.dtype());
           Tensor dx = want_x ? Tensor::empty(xc.shape(), xc.dtype(), xc.device()) : Tensor();
           Tensor dt = want_t ? Tensor::empty(tc.shape(), tc.dtype(), tc.device()) : Tensor();
           void* dxp = want_x ? dx.raw_data() : nullptr;
           void* dtp = want_t ? dt.raw_data() : nullptr;
           if (xc.device().is_cpu())
             kernels::cpu::soft_cross_entropy_backward(xc.dtype(), xc.raw_data(), tc.raw_data(), lse.raw_data(),
                                                       tsum.raw_data(), gc.raw_data(), dxp, dtp, rows, cols);
           else IQA_ON_CUDA(kernels::cuda::soft_cross_entropy_backward(
               xc.dtype(), xc.raw_data(), tc.raw_data(), lse.data<float>(), tsum.data<float>(), gc.raw_data(), dxp,
               dtp, rows, cols, cuda::current_stream()));
           return std::vector<Tensor>{dx, dt};
         });
  return loss;
}

}  // namespace iqa
