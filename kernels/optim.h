// Optimizer update math on raw fp32 arrays: parameters (master weights), their gradients and the
// optimizer state all fp32, one call per parameter tensor. Formulas follow torch.optim's
// single-tensor implementations so a run matches PyTorch step for step.
#pragma once
#include <vector>

#include "kernels/common.h"

namespace iqa::kernels {

// torch.optim.SGD: d = g + wd*p; with momentum, buf = g on the first step, then
// buf = momentum*buf + (1-dampening)*d; nesterov uses d + momentum*buf; p -= lr*d.
struct SgdStepArgs {
  float lr = 0;
  float momentum = 0;
  float one_minus_dampening = 1;  // computed in double on the host
  float weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer is initialised to d instead of being decayed
};

// Adam / AdamW. The host computes the bias corrections in double (as PyTorch does in Python):
//   step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t).
// Coupled L2 (Adam): g += wd*p before the moments. Decoupled (AdamW): p *= 1 - lr*wd first.
//   m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g^2
//   p -= step_size * m / (sqrt(v)/bias_correction2_sqrt + eps)
// Every derived constant (1 - beta, 1 - lr*wd, step_size) is computed in double on the host and
// rounded once to f32, as PyTorch's Python-side arithmetic does: 1 - 0.999f in f32 is off by 1e-5.
struct AdamStepArgs {
  float beta1 = 0.9f, beta2 = 0.999f;
  float one_minus_beta1 = 0.1f, one_minus_beta2 = 0.001f;
  float eps = 1e-8f;
  float weight_decay = 0;              // coupled L2 (Adam): g += weight_decay * p
  bool decoupled_weight_decay = false;
  float decay_factor = 1;              // decoupled (AdamW): p *= decay_factor = 1 - lr*wd
  float step_size = 0;
  float bias_correction2_sqrt = 1;
};

// Many fp32 tensors updated by one multi-tensor launch (kernels/multi_tensor_plan.h): entry i of every
// list belongs to tensor i. state1/state2 are the optimizer's buffers: Adam's exp_avg / exp_avg_sq,
// SGD's momentum buffer in state1 (state lists empty when the optimizer keeps no such buffer).
struct MultiTensorRefs {
  std::vector<float*> params;
  std::vector<const float*> grads;
  std::vector<float*> state1, state2;
  std::vector<int64_t> numels;
};

namespace cpu {
// momentum_buf may be null when momentum == 0.
void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdStepArgs& a);
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamStepArgs& a);
// AdamP's first half: updates the moments (no weight decay on the gradient) and writes the Adam
// direction m/(sqrt(v)/bc2_sqrt + eps) (nesterov: (beta1*m + (1-beta1)*g)/denom) into `direction`.
void adam_direction(const float* grad, float* exp_avg, float* exp_avg_sq, float* direction, int64_t n,
                    const AdamStepArgs& a, bool nesterov);
// p = p*decay_factor - step_size*direction (AdamP's second half, after the projection).
void apply_direction(float* param, const float* direction, int64_t n, float decay_factor, float step_size);
// torch_ema: shadow -= one_minus_decay * (shadow - param).
void ema_update(float* shadow, const float* param, int64_t n, float one_minus_decay);
// GradScaler: grad *= inv_scale; returns true when any element was inf or NaN (checked before scaling).
bool unscale_grad(float* grad, int64_t n, float inv_scale);
}  // namespace cpu

namespace cuda {
void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdStepArgs& a,
              cudaStream_t stream);
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamStepArgs& a,
               cudaStream_t stream);
void adam_direction(const float* grad, float* exp_avg, float* exp_avg_sq, float* direction, int64_t n,
                    const AdamStepArgs& a, bool nesterov, cudaStream_t stream);
void apply_direction(float* param, const float* direction, int64_t n, float decay_factor, float step_size,
                     cudaStream_t stream);
void ema_update(float* shadow, const float* param, int64_t n, float one_minus_decay, cudaStream_t stream);
// Sets *found_inf (device memory, one int) to 1 when any element is inf/NaN; never clears it, so
// one flag can collect all of a model's gradients before a single host read.
void unscale_grad(float* grad, int64_t n, float inv_scale, int* found_inf, cudaStream_t stream);
// The same updates over all tensors of `t` with shared arguments, in a few launches of one kernel
// (per-element math identical to sgd_step / adam_step). SGD with momentum needs t.state1.
void multi_tensor_sgd_step(const MultiTensorRefs& t, const SgdStepArgs& a, cudaStream_t stream);
void multi_tensor_adam_step(const MultiTensorRefs& t, const AdamStepArgs& a, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
