// Per-element optimizer updates with one definition for the CPU reference (kernels/cpu/optim.cpp) and
// the CUDA kernels (per-tensor optim.cu, multi-tensor optim_multi_tensor.cu), so every path runs the
// same formulas in the same order.
#pragma once
#include <cmath>

#include "kernels/common.h"
#include "kernels/optim.h"

namespace iqa::kernels::optim_math {

// Round-to-nearest sqrt and division on the device even under --use_fast_math, so GPU results track
// the CPU reference (they may still differ in the last bit where nvcc contracts a multiply-add).
#if defined(__CUDA_ARCH__)
IQA_HD float sqrt_rn(float x) { return __fsqrt_rn(x); }
IQA_HD float div_rn(float a, float b) { return __fdiv_rn(a, b); }
#else
IQA_HD float sqrt_rn(float x) { return std::sqrt(x); }
IQA_HD float div_rn(float a, float b) { return a / b; }
#endif

// buf may be null when momentum == 0.
IQA_HD void sgd_update(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ buf, int64_t i,
                       const SgdStepArgs& a) {
  float d = grad[i];
  if (a.weight_decay != 0) d += a.weight_decay * param[i];
  if (a.momentum != 0) {
    const float b = a.first_step ? d : a.momentum * buf[i] + a.one_minus_dampening * d;
    buf[i] = b;
    d = a.nesterov ? d + a.momentum * b : b;
  }
  param[i] -= a.lr * d;
}

// The moment updates Adam and the direction-only variant share; returns Adam's denominator.
IQA_HD float adam_moments(float g, float* __restrict__ exp_avg, float* __restrict__ exp_avg_sq, int64_t i,
                          const AdamStepArgs& a, float& m) {
  m = a.beta1 * exp_avg[i] + a.one_minus_beta1 * g;
  const float v = a.beta2 * exp_avg_sq[i] + a.one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  return div_rn(sqrt_rn(v), a.bias_correction2_sqrt) + a.eps;
}

IQA_HD void adam_update(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ exp_avg,
                        float* __restrict__ exp_avg_sq, int64_t i, const AdamStepArgs& a) {
  float p = param[i];
  float g = grad[i];
  if (a.decoupled_weight_decay) p *= a.decay_factor;
  else if (a.weight_decay != 0) g += a.weight_decay * p;
  float m;
  const float denom = adam_moments(g, exp_avg, exp_avg_sq, i, a, m);
  param[i] = p - a.step_size * div_rn(m, denom);
}

// Adam's update direction only (AdamP projects it before applying).
IQA_HD void adam_direction_update(const float* __restrict__ grad, float* __restrict__ exp_avg,
                                  float* __restrict__ exp_avg_sq, float* __restrict__ direction, int64_t i,
                                  const AdamStepArgs& a, bool nesterov) {
  const float g = grad[i];
  float m;
  const float denom = adam_moments(g, exp_avg, exp_avg_sq, i, a, m);
  const float numer = nesterov ? a.beta1 * m + a.one_minus_beta1 * g : m;
  direction[i] = div_rn(numer, denom);
}

}  // namespace iqa::kernels::optim_math
