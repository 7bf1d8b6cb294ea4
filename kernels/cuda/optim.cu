// Fused optimizer updates: one launch per parameter tensor reads param, grad and state once and
// writes them once (Adam touches 4 arrays in, 3 out: memory bound, so one pass is the whole game).
// The element updates are kernels/optim_math.h's, shared with the CPU reference and the multi-tensor
// launch (optim_multi_tensor.cu).
#include "kernels/cuda/dtype_io.cuh"
#include "kernels/optim.h"
#include "kernels/optim_math.h"

namespace iqa::kernels::cuda {

namespace {

constexpr int kBlock = 256;
using cuda_detail::grid_for;

__global__ void sgd_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ buf,
                           int64_t n, SgdStepArgs a) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    optim_math::sgd_update(param, grad, buf, i, a);
}

__global__ void adam_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ exp_avg,
                            float* __restrict__ exp_avg_sq, int64_t n, AdamStepArgs a) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    optim_math::adam_update(param, grad, exp_avg, exp_avg_sq, i, a);
}

__global__ void adam_direction_kernel(const float* __restrict__ grad, float* __restrict__ exp_avg,
                                      float* __restrict__ exp_avg_sq, float* __restrict__ direction, int64_t n,
                                      AdamStepArgs a, bool nesterov) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    optim_math::adam_direction_update(grad, exp_avg, exp_avg_sq, direction, i, a, nesterov);
}

__global__ void apply_direction_kernel(float* __restrict__ param, const float* __restrict__ direction, int64_t n,
                                       float decay_factor, float step_size) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    param[i] = param[i] * decay_factor - step_size * direction[i];
}

__global__ void ema_kernel(float* __restrict__ shadow, const float* __restrict__ param, int64_t n,
                           float one_minus_decay) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    shadow[i] -= one_minus_decay * (shadow[i] - param[i]);
}

__global__ void unscale_kernel(float* __restrict__ grad, int64_t n, float inv_scale, int* found_inf) {
  bool bad = false;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float g = grad[i];
    if (!isfinite(g)) bad = true;
    grad[i] = g * inv_scale;
  }
  // One store per warp at most: the flag is only ever set, so racing writers agree.
  if (__any_sync(0xffffffffu, bad) && (threadIdx.x & 31) == 0) *found_inf = 1;
}

}  // namespace

void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdStepArgs& a,
              cudaStream_t stream) {
  if (n == 0) return;
  sgd_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(param, grad, momentum_buf, n, a);
  IQA_CUDA_CHECK_LAUNCH();
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamStepArgs& a,
               cudaStream_t stream) {
  if (n == 0) return;
  adam_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(param, grad, exp_avg, exp_avg_sq, n, a);
  IQA_CUDA_CHECK_LAUNCH();
}

void adam_direction(const float* grad, float* exp_avg, float* exp_avg_sq, float* direction, int64_t n,
                    const AdamStepArgs& a, bool nesterov, cudaStream_t stream) {
  if (n == 0) return;
  adam_direction_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(grad, exp_avg, exp_avg_sq, direction, n, a,
                                                                     nesterov);
  IQA_CUDA_CHECK_LAUNCH();
}

void apply_direction(float* param, const float* direction, int64_t n, float decay_factor, float step_size,
                     cudaStream_t stream) {
  if (n == 0) return;
  apply_direction_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(param, direction, n, decay_factor, step_size);
  IQA_CUDA_CHECK_LAUNCH();
}

void ema_update(float* shadow, const float* param, int64_t n, float one_minus_decay, cudaStream_t stream) {
  if (n == 0) return;
  ema_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(shadow, param, n, one_minus_decay);
  IQA_CUDA_CHECK_LAUNCH();
}

void unscale_grad(float* grad, int64_t n, float inv_scale, int* found_inf, cudaStream_t stream) {
  if (n == 0) return;
  unscale_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(grad, n, inv_scale, found_inf);
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace iqa::kernels::cuda
