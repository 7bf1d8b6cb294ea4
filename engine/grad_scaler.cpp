// GradScaler (engine/amp.h): dynamic loss scaling for fp16, torch.cuda.amp.GradScaler's semantics.
#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/optim.h"

namespace iqa::amp {

GradScaler::GradScaler(Options o) : opts_(o), scale_(o.init_scale) {
  IQA_CHECK(o.init_scale > 0 && o.growth_factor > 1 && o.backoff_factor > 0 && o.backoff_factor < 1 &&
                o.growth_interval > 0,
            "GradScaler: need init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1, growth_interval > 0");
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!opts_.enabled) return loss;
  return mul(loss, scale_);
}

void GradScaler::unscale_(Optimizer& opt) {
  if (!opts_.enabled) return;
  IQA_CHECK(!unscaled_, "GradScaler::unscale_ called twice since the last update()");
  // The reciprocal in double, rounded once to f32, as PyTorch does.
  float inv_scale = float(1.0 / scale_);
  bool found = false;
#ifdef IQA_WITH_CUDA
  Tensor cuda_flag;  // one int on the device collects every CUDA gradient's check; read once
#endif
  NoGradGuard ng;
  for (auto& p : opt.all_params()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    IQA_CHECK(g.dtype() == DType::F32 && g.is_contiguous(), "GradScaler: gradient ", g.str(),
              " must be contiguous f32 (fp32 master weights)");
    if (g.device().is_cpu()) {
      found = kernels::cpu::unscale_grad(g.data<float>(), g.numel(), inv_scale) || found;
    } else {
#ifdef IQA_WITH_CUDA
      if (!cuda_flag.defined()) cuda_flag = Tensor::zeros({1}, DType::I32, g.device());
      kernels::cuda::unscale_grad(g.data<float>(), g.numel(), inv_scale, cuda_flag.data<int>(),
                                  cuda::current_stream());
#else
      fail("GradScaler: CUDA gradient in a build without CUDA");
#endif
    }
  }
#ifdef IQA_WITH_CUDA
  if (cuda_flag.defined()) found = cuda_flag.item() != 0 || found;
#endif
  found_inf_ = found;
  unscaled_ = true;
}

bool GradScaler::step(Optimizer& opt) {
  if (!opts_.enabled) {
    opt.step();
    return true;
  }
  if (!unscaled_) unscale_(opt);
  if (found_inf_) return false;
  opt.step();
  return true;
}

void GradScaler::update() {
  if (!opts_.enabled) return;
  IQA_CHECK(unscaled_, "GradScaler::update() without step() or unscale_() since the last update()");
  if (found_inf_) {
    scale_ *= opts_.backoff_factor;
    growth_tracker_ = 0;
  } else if (++growth_tracker_ == opts_.growth_interval) {
    scale_ *= opts_.growth_factor;
    growth_tracker_ = 0;
  }
  unscaled_ = false;
  found_inf_ = false;
}

NamedTensors GradScaler::state_dict() const {
  return {{"scale", Tensor::full({}, scale_, DType::F64)},
          {"growth_tracker", Tensor::full({}, double(growth_tracker_), DType::I64)}};
}

void GradScaler::load_state_dict(const std::map<std::string, Tensor>& state) {
  auto s = state.find("scale"), g = state.find("growth_tracker");
  IQA_CHECK(s != state.end() && g != state.end(), "GradScaler.load_state_dict: needs 'scale' and 'growth_tracker'");
  scale_ = s->second.item();
  growth_tracker_ = int64_t(g->second.item());
  unscaled_ = false;
  found_inf_ = false;
}

}  // namespace iqa::amp
