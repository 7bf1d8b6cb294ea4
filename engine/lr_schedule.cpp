#include "engine/lr_schedule.h"

#include <cmath>
#include <numbers>

namespace iqa {

void LRSchedule::apply(Optimizer& opt, int64_t step) const {
  for (auto& g : opt.param_groups()) g.lr = lr_at(step, g.initial_lr);
}

WarmupCosine::WarmupCosine(int64_t w, int64_t t) : warmup_steps(w), total_steps(t) {
  IQA_CHECK(w >= 0 && t > 0, "WarmupCosine: warmup_steps ", w, " must be >= 0 and total_steps ", t, " > 0");
}

double WarmupCosine::lr_at(int64_t i, double base) const {
  IQA_CHECK(i >= 0, "WarmupCosine: negative step ", i);
  if (i < warmup_steps) return base * double(i) / double(warmup_steps);
  return base * 0.5 * (1 + std::cos(std::numbers::pi * double(i - warmup_steps) / double(total_steps)));
}

StepDecay::StepDecay(int64_t s, double g) : step_size(s), gamma(g) {
  IQA_CHECK(s > 0, "StepDecay: step_size ", s, " must be positive");
}

double StepDecay::lr_at(int64_t epoch, double base) const {
  IQA_CHECK(epoch >= 0, "StepDecay: negative epoch ", epoch);
  return base * std::pow(gamma, double(epoch / step_size));
}

CosineAnnealing::CosineAnnealing(int64_t t, double e) : t_max(t), eta_min(e) {
  IQA_CHECK(t > 0, "CosineAnnealing: t_max ", t, " must be positive");
}

double CosineAnnealing::lr_at(int64_t step, double base) const {
  IQA_CHECK(step >= 0, "CosineAnnealing: negative step ", step);
  return eta_min + (base - eta_min) * (1 + std::cos(std::numbers::pi * double(step) / double(t_max))) / 2;
}

}  // namespace iqa
