#include "engine/ema.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/optim.h"

namespace iqa {

ExponentialMovingAverage::ExponentialMovingAverage(const std::vector<Tensor>& params, double decay,
                                                   bool use_num_updates)
    : decay_(decay), use_num_updates_(use_num_updates) {
  IQA_CHECK(decay >= 0 && decay <= 1, "ExponentialMovingAverage: decay ", decay, " must lie in [0, 1]");
  NoGradGuard ng;
  for (const auto& p : params) {
    IQA_CHECK(p.defined(), "ExponentialMovingAverage: undefined parameter");
    if (!p.requires_grad()) continue;
    params_.push_back(p);
    shadow_.push_back(p.detach().clone());
  }
}

double ExponentialMovingAverage::next_decay() const {
  if (!use_num_updates_) return decay_;
  double n = double(num_updates_ + 1);
  return std::min(decay_, (1 + n) / (10 + n));
}

void ExponentialMovingAverage::update() {
  double d = next_decay();
  if (use_num_updates_) ++num_updates_;
  float one_minus_decay = float(1.0 - d);
  NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    Tensor& s = shadow_[i];
    IQA_CHECK(p.shape() == s.shape(), "ExponentialMovingAverage: parameter ", i, " changed shape to ",
              shape_str(p.shape()), " (shadow ", shape_str(s.shape()), ")");
    if (!(s.device() == p.device()) || s.dtype() != p.dtype()) s = s.to(p.device(), p.dtype());
    if (p.dtype() == DType::F32 && p.is_contiguous()) {
      if (p.device().is_cpu())
        kernels::cpu::ema_update(s.data<float>(), p.data<float>(), p.numel(), one_minus_decay);
      else
        IQA_ON_CUDA(kernels::cuda::ema_update(s.data<float>(), p.data<float>(), p.numel(), one_minus_decay,
                                              cuda::current_stream()));
    } else {
      // Other dtypes/layouts (f64 CPU models in tests): the same rule through ops.
      s.copy_(sub(s, mul(sub(s, p.detach()), 1.0 - d)));
    }
  }
}

void ExponentialMovingAverage::store() {
  NoGradGuard ng;
  stored_.clear();
  for (const auto& p : params_) stored_.push_back(p.detach().clone());
}

void ExponentialMovingAverage::copy_to() {
  NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i];
    p.copy_(shadow_[i]);
  }
}

void ExponentialMovingAverage::restore() {
  IQA_CHECK(stored_.size() == params_.size(), "ExponentialMovingAverage::restore() without a matching store()");
  NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i];
    p.copy_(stored_[i]);
  }
  stored_.clear();
}

NamedTensors ExponentialMovingAverage::state_dict() const {
  NamedTensors out;
  for (size_t i = 0; i < shadow_.size(); ++i) out.push_back({cat("shadow.", i), shadow_[i].detach()});
  out.push_back({"num_updates", Tensor::full({}, double(num_updates_), DType::I64)});
  return out;
}

void ExponentialMovingAverage::load_state_dict(const std::map<std::string, Tensor>& state) {
  size_t expected = shadow_.size() + 1;
  IQA_CHECK(state.size() == expected, "ExponentialMovingAverage.load_state_dict: ", state.size(),
            " entries, expected ", expected, " (shadow.0..", shadow_.size(), " and num_updates)");
  auto it = state.find("num_updates");
  IQA_CHECK(it != state.end(), "ExponentialMovingAverage.load_state_dict: missing 'num_updates'");
  std::vector<Tensor> fresh;
  for (size_t i = 0; i < shadow_.size(); ++i) {
    std::string key = cat("shadow.", i);
    auto s = state.find(key);
    IQA_CHECK(s != state.end(), "ExponentialMovingAverage.load_state_dict: missing '", key, "'");
    IQA_CHECK(s->second.shape() == shadow_[i].shape(), "ExponentialMovingAverage.load_state_dict: '", key,
              "' has shape ", shape_str(s->second.shape()), ", expected ", shape_str(shadow_[i].shape()));
    Tensor t = Tensor::empty(shadow_[i].shape(), shadow_[i].dtype(), shadow_[i].device());
    t.copy_(s->second);
    fresh.push_back(t);
  }
  shadow_ = std::move(fresh);
  num_updates_ = int64_t(it->second.item());
}

}  // namespace iqa
