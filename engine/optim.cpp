// Optimizer bookkeeping (groups, lazily created state, state dicts) and the SGD/Adam/AdamW/AdamP
// updates, which hand each parameter tensor to one fused kernel (kernels/optim.h), or on CUDA a whole
// group to the multi-tensor kernels.
#include "engine/optim.h"

#include <cmath>
#include <cstdlib>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/optim.h"

namespace iqa {

// ---------------------------------------------------------------- Optimizer base
Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  IQA_CHECK(!groups_.empty(), "optimizer: no parameter groups");
  size_t n = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    auto& group = groups_[g];
    IQA_CHECK(group.lr >= 0, "optimizer: group ", g, " has negative lr ", group.lr);
    IQA_CHECK(group.weight_decay >= 0, "optimizer: group ", g, " has negative weight_decay ", group.weight_decay);
    if (group.initial_lr == 0) group.initial_lr = group.lr;
    for (size_t i = 0; i < group.params.size(); ++i) {
      const Tensor& p = group.params[i];
      IQA_CHECK(p.defined(), "optimizer: group ", g, " parameter ", i, " is undefined");
      IQA_CHECK(p.dtype() == DType::F32, "optimizer: group ", g, " parameter ", i, " is ", p.str(),
                "; optimizers update fp32 master weights");
      IQA_CHECK(p.is_leaf(), "optimizer: group ", g, " parameter ", i, " is not a leaf tensor");
    }
    n += group.params.size();
  }
  state_.resize(n);
}

std::vector<Tensor> Optimizer::all_params() const {
  std::vector<Tensor> out;
  for (auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

void Optimizer::step() {
  NoGradGuard ng;
  size_t idx = 0;
  for (auto& group : groups_) {
    std::vector<PendingUpdate> items;
    for (auto& param : group.params) {
      ParamState& st = state_[idx++];
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      IQA_CHECK(param.dtype() == DType::F32 && param.is_contiguous(), name(), ": parameter ", idx - 1, " is ",
                param.str(), "; expected a contiguous f32 tensor");
      IQA_CHECK(grad.shape() == param.shape() && grad.device() == param.device(), name(), ": gradient ",
                grad.str(), " does not match parameter ", idx - 1, " ", param.str());
      if (grad.dtype() != DType::F32) grad = grad.to(DType::F32);
      grad = grad.contiguous();
      for (const auto& b : buffer_names()) {
        Tensor& buf = st.buffers[b];
        if (!buf.defined()) buf = Tensor::zeros(param.shape(), DType::F32, param.device());
        else if (!(buf.device() == param.device())) buf = buf.to(param.device());
      }
      st.step += 1;
      items.push_back({&param, grad, &st});
    }
    if (!items.empty()) update_group(group, items);
  }
}

void Optimizer::update_group(const ParamGroup& group, std::vector<PendingUpdate>& items) {
  for (auto& it : items) update(group, *it.param, it.grad, *it.state);
}

bool Optimizer::use_multi_tensor(const std::vector<PendingUpdate>& items) const {
  if (!multi_tensor_ || items.empty()) return false;
  const Device dev = items.front().param->device();
  if (dev.is_cpu()) return false;
  for (const auto& it : items)
    if (!(it.param->device() == dev)) return false;
  return true;
}

int64_t Optimizer::step_count(size_t i) const {
  IQA_CHECK(i < state_.size(), name(), ": parameter index ", i, " out of range (", state_.size(), " parameters)");
  return state_[i].step;
}

Tensor Optimizer::state_buffer(size_t i, const std::string& buf) const {
  IQA_CHECK(i < state_.size(), name(), ": parameter index ", i, " out of range (", state_.size(), " parameters)");
  auto it = state_[i].buffers.find(buf);
  return it == state_[i].buffers.end() ? Tensor() : it->second;
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& st = state_[i];
    if (st.step == 0) continue;
    out.push_back({cat("state.", i, ".step"), Tensor::full({}, double(st.step), DType::I64)});
    for (auto& [b, t] : st.buffers) out.push_back({cat("state.", i, ".", b), t.detach()});
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    out.push_back({cat("param_groups.", g, ".lr"), Tensor::full({}, groups_[g].lr, DType::F64)});
    out.push_back({cat("param_groups.", g, ".initial_lr"), Tensor::full({}, groups_[g].initial_lr, DType::F64)});
  }
  return out;
}

namespace {
// Splits "prefix.<index>.<field>"; false when the key does not have that form.
bool split_key(const std::string& key, const std::string& prefix, size_t& index, std::string& field) {
  if (key.rfind(prefix, 0) != 0) return false;
  size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return false;
  std::string num = key.substr(prefix.size(), dot - prefix.size());
  for (char c : num)
    if (c < '0' || c > '9') return false;
  index = size_t(std::strtoull(num.c_str(), nullptr, 10));
  field = key.substr(dot + 1);
  return !field.empty();
}
}  // namespace

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<Tensor> params = all_params();
  std::vector<ParamState> fresh(params.size());
  std::vector<ParamGroup> groups = groups_;
  std::vector<std::string> names = buffer_names();
  for (auto& [key, t] : state) {
    size_t i = 0;
    std::string field;
    if (split_key(key, "state.", i, field)) {
      IQA_CHECK(i < params.size(), name(), ".load_state_dict: '", key, "' names parameter ", i, " but there are ",
                params.size());
      if (field == "step") {
        IQA_CHECK(t.numel() == 1, name(), ".load_state_dict: '", key, "' must be a scalar, got ", t.str());
        fresh[i].step = int64_t(t.item());
        continue;
      }
      bool known = false;
      for (auto& b : names) known = known || b == field;
      IQA_CHECK(known, name(), ".load_state_dict: unexpected state buffer '", key, "'");
      IQA_CHECK(t.shape() == params[i].shape(), name(), ".load_state_dict: '", key, "' has shape ",
                shape_str(t.shape()), ", parameter has ", shape_str(params[i].shape()));
      Tensor buf = Tensor::empty(t.shape(), DType::F32, params[i].device());
      buf.copy_(t);
      fresh[i].buffers[field] = buf;
    } else if (split_key(key, "param_groups.", i, field)) {
      IQA_CHECK(i < groups.size(), name(), ".load_state_dict: '", key, "' names group ", i, " but there are ",
                groups.size());
      IQA_CHECK(t.numel() == 1, name(), ".load_state_dict: '", key, "' must be a scalar, got ", t.str());
      if (field == "lr") groups[i].lr = t.item();
      else if (field == "initial_lr") groups[i].initial_lr = t.item();
      else fail(cat(name(), ".load_state_dict: unexpected key '", key, "'"));
    } else {
      fail(cat(name(), ".load_state_dict: unexpected key '", key, "'"));
    }
  }
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (fresh[i].step == 0) {
      IQA_CHECK(fresh[i].buffers.empty(), name(), ".load_state_dict: parameter ", i, " has buffers but no step");
      continue;
    }
    for (auto& b : names)
      IQA_CHECK(fresh[i].buffers.count(b), name(), ".load_state_dict: missing 'state.", i, ".", b, "'");
  }
  state_ = std::move(fresh);
  groups_ = std::move(groups);
}

// ---------------------------------------------------------------- SGD
SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o) : Optimizer(std::move(groups)), opts_(o) {
  IQA_CHECK(o.momentum >= 0, "SGD: negative momentum ", o.momentum);
  IQA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD: nesterov needs momentum > 0 and dampening 0");
}

std::vector<std::string> SGD::buffer_names() const {
  if (opts_.momentum == 0) return {};
  return {"momentum_buffer"};
}

namespace {
kernels::SgdStepArgs sgd_args(const SGDOptions& o, const ParamGroup& group, bool first_step) {
  kernels::SgdStepArgs a;
  a.lr = float(group.lr);
  a.momentum = float(o.momentum);
  a.one_minus_dampening = float(1.0 - o.dampening);
  a.weight_decay = float(group.weight_decay);
  a.nesterov = o.nesterov;
  a.first_step = first_step;
  return a;
}
}  // namespace

void SGD::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& st) {
  const kernels::SgdStepArgs a = sgd_args(opts_, group, st.step == 1);
  float* buf = opts_.momentum != 0 ? st.buffers.at("momentum_buffer").data<float>() : nullptr;
  if (param.device().is_cpu())
    kernels::cpu::sgd_step(param.data<float>(), grad.data<float>(), buf, param.numel(), a);
  else
    IQA_ON_CUDA(kernels::cuda::sgd_step(param.data<float>(), grad.data<float>(), buf, param.numel(), a,
                                        cuda::current_stream()));
}

// Parameters whose first step this is start their momentum buffer differently, so they get their own
// launch (in practice all parameters share their step count and there is one).
void SGD::update_group(const ParamGroup& group, std::vector<PendingUpdate>& items) {
  if (!use_multi_tensor(items)) return Optimizer::update_group(group, items);
  for (bool first : {true, false}) {
    kernels::MultiTensorRefs refs;
    for (auto& it : items) {
      if ((it.state->step == 1) != first) continue;
      refs.params.push_back(it.param->data<float>());
      refs.grads.push_back(it.grad.data<float>());
      if (opts_.momentum != 0) refs.state1.push_back(it.state->buffers.at("momentum_buffer").data<float>());
      refs.numels.push_back(it.param->numel());
    }
    if (refs.params.empty()) continue;
    IQA_ON_CUDA(kernels::cuda::multi_tensor_sgd_step(refs, sgd_args(opts_, group, first), cuda::current_stream()));
  }
}

// ---------------------------------------------------------------- Adam, AdamW
namespace {
kernels::AdamStepArgs adam_args(double lr, double beta1, double beta2, double eps, double wd, int64_t step) {
  kernels::AdamStepArgs a;
  a.beta1 = float(beta1);
  a.beta2 = float(beta2);
  a.one_minus_beta1 = float(1.0 - beta1);
  a.one_minus_beta2 = float(1.0 - beta2);
  a.eps = float(eps);
  a.weight_decay = float(wd);
  a.decay_factor = float(1.0 - lr * wd);
  // Bias corrections in double, as PyTorch computes them in Python floats.
  double bc1 = 1 - std::pow(beta1, double(step));
  double bc2 = 1 - std::pow(beta2, double(step));
  a.step_size = float(lr / bc1);
  a.bias_correction2_sqrt = float(std::sqrt(bc2));
  return a;
}

void check_betas(const char* who, double beta1, double beta2, double eps) {
  IQA_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, who, ": betas (", beta1, ", ", beta2,
            ") must lie in [0, 1)");
  IQA_CHECK(eps >= 0, who, ": negative eps ", eps);
}
}  // namespace

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o) : Optimizer(std::move(groups)), opts_(o) {
  check_betas("Adam", o.beta1, o.beta2, o.eps);
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions o) : Adam(std::move(groups), o) { decoupled_ = true; }

void Adam::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& st) {
  kernels::AdamStepArgs a = adam_args(group.lr, opts_.beta1, opts_.beta2, opts_.eps, group.weight_decay, st.step);
  a.decoupled_weight_decay = decoupled_;
  float* m = st.buffers.at("exp_avg").data<float>();
  float* v = st.buffers.at("exp_avg_sq").data<float>();
  if (param.device().is_cpu())
    kernels::cpu::adam_step(param.data<float>(), grad.data<float>(), m, v, param.numel(), a);
  else
    IQA_ON_CUDA(kernels::cuda::adam_step(param.data<float>(), grad.data<float>(), m, v, param.numel(), a,
                                         cuda::current_stream()));
}

// The bias corrections depend on the step count: one launch series per distinct count (usually one).
void Adam::update_group(const ParamGroup& group, std::vector<PendingUpdate>& items) {
  if (!use_multi_tensor(items)) return Optimizer::update_group(group, items);
  std::map<int64_t, kernels::MultiTensorRefs> by_step;
  for (auto& it : items) {
    kernels::MultiTensorRefs& refs = by_step[it.state->step];
    refs.params.push_back(it.param->data<float>());
    refs.grads.push_back(it.grad.data<float>());
    refs.state1.push_back(it.state->buffers.at("exp_avg").data<float>());
    refs.state2.push_back(it.state->buffers.at("exp_avg_sq").data<float>());
    refs.numels.push_back(it.param->numel());
  }
  for (auto& [step, refs] : by_step) {
    kernels::AdamStepArgs a = adam_args(group.lr, opts_.beta1, opts_.beta2, opts_.eps, group.weight_decay, step);
    a.decoupled_weight_decay = decoupled_;
    IQA_ON_CUDA(kernels::cuda::multi_tensor_adam_step(refs, a, cuda::current_stream()));
  }
}

// ---------------------------------------------------------------- AdamP
AdamP::AdamP(std::vector<ParamGroup> groups, AdamPOptions o) : Optimizer(std::move(groups)), opts_(o) {
  check_betas("AdamP", o.beta1, o.beta2, o.eps);
  IQA_CHECK(o.delta > 0 && o.wd_ratio >= 0, "AdamP: delta ", o.delta, " must be > 0 and wd_ratio ", o.wd_ratio,
            " >= 0");
}

bool AdamP::last_projected(size_t i) const {
  std::vector<Tensor> params = all_params();
  IQA_CHECK(i < params.size(), "AdamP: parameter index ", i, " out of range (", params.size(), " parameters)");
  auto it = projected_.find(params[i].impl_ptr().get());
  return it != projected_.end() && it->second.item() != 0;  // reads the device flag (a sync)
}

namespace {
// The smallest float >= t: for a float x, x < t exactly when x < float_ceil(t), so the test runs in f32
// on the device with the same outcome as the f64 comparison of the host version.
float float_ceil(double t) {
  float f = float(t);
  return double(f) < t ? std::nextafter(f, INFINITY) : f;
}

struct Projection {
  Tensor applies;    // u8 0-d: every row's |cos(grad, weight)| is below delta/sqrt(cols)
  Tensor direction;  // `direction` without the component along each row of the normalised weight
};

// AdamP's projection for one view of the parameter as rows of [rows, cols], decided on the device
// (no read-back; the caller selects with where()).
Projection project_radial(const Tensor& param, const Tensor& grad, const Tensor& direction, int64_t rows,
                          double delta, double eps) {
  int64_t cols = param.numel() / rows;
  Tensor p = param.detach().view({rows, cols});
  Tensor g = grad.view({rows, cols});
  Tensor g_norm = clamp(sqrt(sum(mul(g, g), {1})), eps, std::nullopt);
  Tensor p_norm_raw = sqrt(sum(mul(p, p), {1}));
  Tensor p_norm = clamp(p_norm_raw, eps, std::nullopt);
  Tensor cosine = abs(div(sum(mul(g, p), {1}), mul(g_norm, p_norm)));
  Tensor threshold = Tensor::full({}, float_ceil(delta / std::sqrt(double(cols))), DType::F32, param.device());
  Tensor p_unit = div(p, add(p_norm_raw, eps).unsqueeze(1));
  Tensor d = direction.view({rows, cols});
  Tensor radial = mul(p_unit, sum(mul(p_unit, d), {1}, true));
  return {lt(max_all(cosine), threshold), sub(d, radial).view(param.shape()).contiguous()};
}

void apply_direction(Tensor& param, const Tensor& direction, double decay, float step_size) {
  if (param.device().is_cpu())
    kernels::cpu::apply_direction(param.data<float>(), direction.data<float>(), param.numel(), float(decay),
                                  step_size);
  else
    IQA_ON_CUDA(kernels::cuda::apply_direction(param.data<float>(), direction.data<float>(), param.numel(),
                                               float(decay), step_size, cuda::current_stream()));
}
}  // namespace

// The step never reads the device: the projection tests become u8 masks that select the direction and
// the decayed parameter with where(), so a training step has no host sync (last_projected() reads the
// flag on demand).
void AdamP::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& st) {
  kernels::AdamStepArgs a = adam_args(group.lr, opts_.beta1, opts_.beta2, opts_.eps, 0.0, st.step);
  float* m = st.buffers.at("exp_avg").data<float>();
  float* v = st.buffers.at("exp_avg_sq").data<float>();
  int64_t n = param.numel();
  Tensor direction = Tensor::empty(param.shape(), DType::F32, param.device());
  if (param.device().is_cpu())
    kernels::cpu::adam_direction(grad.data<float>(), m, v, direction.data<float>(), n, a, opts_.nesterov);
  else
    IQA_ON_CUDA(kernels::cuda::adam_direction(grad.data<float>(), m, v, direction.data<float>(), n, a, opts_.nesterov,
                                              cuda::current_stream()));

  const double plain_decay = group.weight_decay > 0 ? 1 - group.lr * group.weight_decay : 1.0;
  // Per output channel first, then the whole tensor; only for weights with more than one dim.
  if (param.dim() <= 1 || n == 0) {
    projected_.erase(param.impl_ptr().get());
    apply_direction(param, direction, plain_decay, a.step_size);
    return;
  }
  Projection rows = project_radial(param, grad, direction, param.size(0), opts_.delta, opts_.eps);
  Projection whole = project_radial(param, grad, direction, 1, opts_.delta, opts_.eps);
  Tensor projected = where(rows.applies, rows.applies, whole.applies);  // either test (u8 or)
  direction = where(rows.applies, rows.direction, where(whole.applies, whole.direction, direction));
  projected_[param.impl_ptr().get()] = projected;
  const double projected_decay =
      group.weight_decay > 0 ? 1 - group.lr * group.weight_decay * opts_.wd_ratio : 1.0;
  if (float(projected_decay) == float(plain_decay)) {
    apply_direction(param, direction, plain_decay, a.step_size);
    return;
  }
  // The two decays differ: both updates, then the one the mask picks (bit-identical to either).
  Tensor decayed_projected = param.clone();
  apply_direction(decayed_projected, direction, projected_decay, a.step_size);
  apply_direction(param, direction, plain_decay, a.step_size);
  param.copy_(where(projected, decayed_projected, param));
}

}  // namespace iqa
