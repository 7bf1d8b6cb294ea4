// Learning-rate schedules as pure functions of the step (or epoch) index, so resuming needs only the
// index. `apply` sets every group's lr from its own initial_lr.
#pragma once
#include <cstdint>

#include "engine/optim.h"

namespace iqa {

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  // The lr at index `step` for a group whose base lr is `base_lr`.
  virtual double lr_at(int64_t step, double base_lr) const = 0;
  // Sets group.lr = lr_at(step, group.initial_lr) for every group.
  void apply(Optimizer& opt, int64_t step) const;
};

// SIND's WarmupCosineLR (shared/spec/sind.md §4), stepped once per optimizer step:
//   lr(i) = base * i / W                          for i < W (so 0 at the very first step)
//   lr(i) = base * 0.5 * (1 + cos(pi * (i - W) / T))  for i >= W
// where T is the *whole* schedule length (not T - W), as in the reference code.
class WarmupCosine : public LRSchedule {
 public:
  WarmupCosine(int64_t warmup_steps, int64_t total_steps);
  double lr_at(int64_t step, double base_lr) const override;
  int64_t warmup_steps, total_steps;
};

// torch.optim.lr_scheduler.StepLR: lr = base * gamma^floor(epoch / step_size).
class StepDecay : public LRSchedule {
 public:
  StepDecay(int64_t step_size, double gamma);
  double lr_at(int64_t epoch, double base_lr) const override;
  int64_t step_size;
  double gamma;
};

// torch.optim.lr_scheduler.CosineAnnealingLR, closed form (no restarts):
//   lr = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2
class CosineAnnealing : public LRSchedule {
 public:
  explicit CosineAnnealing(int64_t t_max, double eta_min = 0.0);
  double lr_at(int64_t step, double base_lr) const override;
  int64_t t_max;
  double eta_min;
};

}  // namespace iqa
