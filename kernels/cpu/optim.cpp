// Reference optimizer updates (the element math is kernels/optim_math.h's, shared with CUDA). Each
// element is independent, so the loops split across threads without changing any result.
#include "kernels/optim.h"

#include <cmath>

#include "kernels/optim_math.h"

namespace iqa::kernels::cpu {

void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdStepArgs& a) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) optim_math::sgd_update(param, grad, momentum_buf, i, a);
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const AdamStepArgs& a) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) optim_math::adam_update(param, grad, exp_avg, exp_avg_sq, i, a);
}

void adam_direction(const float* grad, float* exp_avg, float* exp_avg_sq, float* direction, int64_t n,
                    const AdamStepArgs& a, bool nesterov) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) optim_math::adam_direction_update(grad, exp_avg, exp_avg_sq, direction, i, a, nesterov);
}

void apply_direction(float* param, const float* direction, int64_t n, float decay_factor, float step_size) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) param[i] = param[i] * decay_factor - step_size * direction[i];
}

void ema_update(float* shadow, const float* param, int64_t n, float one_minus_decay) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) shadow[i] -= one_minus_decay * (shadow[i] - param[i]);
}

bool unscale_grad(float* grad, int64_t n, float inv_scale) {
  bool found = false;
#pragma omp parallel for reduction(|| : found) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(grad[i])) found = true;
    grad[i] *= inv_scale;
  }
  return found;
}

}  // namespace iqa::kernels::cpu
