// Reference optimizer updates. Each element is independent, so the loops split across threads
// without changing any result.
#include "kernels/optim.h"

#include <cmath>

namespace iqa::kernels::cpu {

void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdStepArgs& a) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    float d = grad[i];
    if (a.weight_decay != 0) d += a.weight_decay * param[i];
    if (a.momentum != 0) {
      float buf = a.first_step ? d : a.momentum * momentum_buf[i] + a.one_minus_dampening * d;
      momentum_buf[i] = buf;
      d = a.nesterov ? d + a.momentum * buf : buf;
    }
    param[i] -= a.lr * d;
  }
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const AdamStepArgs& a) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    float p = param[i];
    float g = grad[i];
    if (a.decoupled_weight_decay) p *= a.decay_factor;
    else if (a.weight_decay != 0) g += a.weight_decay * p;
    float m = a.beta1 * exp_avg[i] + a.one_minus_beta1 * g;
    float v = a.beta2 * exp_avg_sq[i] + a.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    float denom = std::sqrt(v) / a.bias_correction2_sqrt + a.eps;
    param[i] = p - a.step_size * (m / denom);
  }
}

void adam_direction(const float* grad, float* exp_avg, float* exp_avg_sq, float* direction, int64_t n,
                    const AdamStepArgs& a, bool nesterov) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    float m = a.beta1 * exp_avg[i] + a.one_minus_beta1 * g;
    float v = a.beta2 * exp_avg_sq[i] + a.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    float denom = std::sqrt(v) / a.bias_correction2_sqrt + a.eps;
    float numer = nesterov ? a.beta1 * m + a.one_minus_beta1 * g : m;
    direction[i] = numer / denom;
  }
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
