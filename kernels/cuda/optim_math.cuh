// Per-element optimizer updates shared by the per-tensor kernels (optim.cu) and the multi-tensor ones
// (optim_multi_tensor.cu): one definition, so both paths produce the same bits.
#pragma once
#include "kernels/cuda/dtype_io.cuh"
#include "kernels/optim.h"

namespace iqa::kernels::cuda_detail {

// buf may be null when momentum == 0.
__device__ __forceinline__ void sgd_update(float* __restrict__ param, const float* __restrict__ grad,
                                           float* __restrict__ buf, int64_t i, const SgdStepArgs& a) {
  float d = grad[i];
  if (a.weight_decay != 0) d += a.weight_decay * param[i];
  if (a.momentum != 0) {
    float b = a.first_step ? d : a.momentum * buf[i] + a.one_minus_dampening * d;
    buf[i] = b;
    d = a.nesterov ? d + a.momentum * b : b;
  }
  param[i] -= a.lr * d;
}

__device__ __forceinline__ void adam_update(float* __restrict__ param, const float* __restrict__ grad,
                                            float* __restrict__ exp_avg, float* __restrict__ exp_avg_sq, int64_t i,
                                            const AdamStepArgs& a) {
  float p = param[i];
  float g = grad[i];
  if (a.decoupled_weight_decay) p *= a.decay_factor;
  else if (a.weight_decay != 0) g += a.weight_decay * p;
  float m = a.beta1 * exp_avg[i] + a.one_minus_beta1 * g;
  float v = a.beta2 * exp_avg_sq[i] + a.one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  // Round-to-nearest sqrt/division even under --use_fast_math, so results track the CPU reference
  // (they may still differ in the last bit where nvcc contracts a multiply-add into an FMA).
  float denom = __fdiv_rn(__fsqrt_rn(v), a.bias_correction2_sqrt) + a.eps;
  param[i] = p - a.step_size * __fdiv_rn(m, denom);
}

}  // namespace iqa::kernels::cuda_detail
