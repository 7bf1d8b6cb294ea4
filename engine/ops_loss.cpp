// Losses with mean reduction, composed from differentiable ops so their gradients come for free.
// Semantics are torch.nn.functional's (l1_loss, mse_loss, smooth_l1_loss, cross_entropy).
#include <vector>

#include "engine/dispatch.h"
#include "engine/ops.h"

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
  check_pair("l1_loss", pred, target);
  return mean(abs(sub(pred, target)));
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_pair("mse_loss", pred, target);
  Tensor d = sub(pred, target);
  return mean(mul(d, d));
}

// 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere; beta = 0 is the plain L1 loss.
Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, double beta) {
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

Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target_probs) {
  check_logits("cross_entropy_soft", logits);
  check_pair("cross_entropy_soft", logits, target_probs);
  Tensor per_sample = sum(mul(target_probs, log_softmax(logits, 1)), {1});
  return neg(mean(per_sample));
}

}  // namespace iqa
