// CUDA batch norm. Per-channel reductions run one block per channel (two passes over the channel for
// the variance, f32 accumulation, warp-shuffle tree); the elementwise steps are grid-stride loops.
// One block per channel is enough for the ResNet/DSMix shapes (C >= 64); a split reduction would only
// pay for very few channels with very many pixels.
#include <cmath>

#include "kernels/batch_norm.h"
#include "kernels/cuda/dtype_io.cuh"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kReduceBlock = 512;
constexpr int kApplyBlock = 256;

// Sum over the block; every thread gets the total. `scratch` holds one float per warp.
__device__ float block_sum(float v, float* scratch) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

// Optional per-channel parameter as float (weight/bias are f32, bf16 or f16).
__device__ __forceinline__ float param_f32(const void* p, DType t, int64_t c, float fallback) {
  if (!p) return fallback;
  switch (t) {
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[c]);
    case DType::F16: return __half2float(static_cast<const __half*>(p)[c]);
    default: return static_cast<const float*>(p)[c];
  }
}

// Element j of channel c, j in [0, n*hw).
__device__ __forceinline__ int64_t channel_index(const BatchNormGeometry& g, int64_t c, int64_t j) {
  return ((j / g.hw) * g.c + c) * g.hw + j % g.hw;
}

template <class T>
__global__ void train_stats_kernel(BatchNormGeometry g, const T* x, float eps, float momentum, void* running_mean,
                                   void* running_var, DType running_dtype, float* mean, float* invstd) {
  __shared__ float scratch[32];
  const int64_t c = blockIdx.x, count = g.count();
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) s += to_f32(x[channel_index(g, c, j)]);
  const float mu = block_sum(s, scratch) / float(count);
  float sq = 0.f;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    float d = to_f32(x[channel_index(g, c, j)]) - mu;
    sq += d * d;
  }
  const float var = block_sum(sq, scratch) / float(count);
  if (threadIdx.x == 0) {
    mean[c] = mu;
    invstd[c] = rsqrtf(var + eps);
    if (running_mean) {
      double rm = load_as_double(running_mean, running_dtype, c);
      store_from_double(running_mean, running_dtype, c, (1.0 - momentum) * rm + double(momentum) * mu);
    }
    if (running_var) {
      double unbiased = count > 1 ? double(var) * double(count) / double(count - 1) : double(var);
      double rv = load_as_double(running_var, running_dtype, c);
      store_from_double(running_var, running_dtype, c, (1.0 - momentum) * rv + double(momentum) * unbiased);
    }
  }
}

__global__ void eval_stats_kernel(int64_t channels, const void* running_mean, const void* running_var,
                                  DType running_dtype, float eps, float* mean, float* invstd) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < channels; c += int64_t(gridDim.x) * blockDim.x) {
    mean[c] = float(load_as_double(running_mean, running_dtype, c));
    invstd[c] = rsqrtf(float(load_as_double(running_var, running_dtype, c)) + eps);
  }
}

template <class T>
__global__ void apply_kernel(BatchNormGeometry g, const T* x, const float* mean, const float* invstd,
                             const void* weight, const void* bias, DType param_dtype, T* y, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (i / g.hw) % g.c;
    const float scale = param_f32(weight, param_dtype, c, 1.f) * invstd[c];
    const float shift = param_f32(bias, param_dtype, c, 0.f) - mean[c] * scale;
    y[i] = from_f32<T>(to_f32(x[i]) * scale + shift);
  }
}

template <class T>
__global__ void backward_reduce_kernel(BatchNormGeometry g, const T* dy, const T* x, const float* mean,
                                       const float* invstd, float* sum_dy, float* sum_dy_xhat) {
  __shared__ float scratch[32];
  const int64_t c = blockIdx.x, count = g.count();
  const float mu = mean[c];
  float s = 0.f, sx = 0.f;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    int64_t i = channel_index(g, c, j);
    float d = to_f32(dy[i]);
    s += d;
    sx += d * (to_f32(x[i]) - mu);
  }
  s = block_sum(s, scratch);
  sx = block_sum(sx, scratch);
  if (threadIdx.x == 0) {
    sum_dy[c] = s;
    sum_dy_xhat[c] = sx * invstd[c];
  }
}

template <class T>
__global__ void backward_input_kernel(BatchNormGeometry g, const T* dy, const T* x, const float* mean,
                                      const float* invstd, const void* weight, DType param_dtype, const float* sum_dy,
                                      const float* sum_dy_xhat, bool training, T* dx, int64_t total) {
  const float inv_count = 1.f / float(g.count());
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (i / g.hw) % g.c;
    const float scale = param_f32(weight, param_dtype, c, 1.f) * invstd[c];
    float d = to_f32(dy[i]);
    if (training) {
      float xhat = (to_f32(x[i]) - mean[c]) * invstd[c];
      d = d - sum_dy[c] * inv_count - xhat * sum_dy_xhat[c] * inv_count;
    }
    dx[i] = from_f32<T>(scale * d);
  }
}

}  // namespace

void batch_norm_train_stats(DType dtype, const BatchNormGeometry& g, const void* x, double eps, double momentum,
                            void* running_mean, void* running_var, DType running_dtype, float* mean, float* invstd,
                            cudaStream_t stream) {
  if (g.c == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    train_stats_kernel<T><<<unsigned(g.c), kReduceBlock, 0, stream>>>(g, static_cast<const T*>(x), float(eps),
                                                                       float(momentum), running_mean, running_var,
                                                                       running_dtype, mean, invstd);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void batch_norm_eval_stats(const BatchNormGeometry& g, const void* running_mean, const void* running_var,
                           DType running_dtype, double eps, float* mean, float* invstd, cudaStream_t stream) {
  if (g.c == 0) return;
  eval_stats_kernel<<<grid_for(g.c, kApplyBlock), kApplyBlock, 0, stream>>>(g.c, running_mean, running_var,
                                                                            running_dtype, float(eps), mean, invstd);
  IQA_CUDA_CHECK_LAUNCH();
}

void batch_norm_apply(DType dtype, const BatchNormGeometry& g, const void* x, const float* mean, const float* invstd,
                      const void* weight, const void* bias, DType param_dtype, void* y, cudaStream_t stream) {
  int64_t total = g.n * g.c * g.hw;
  if (total == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    apply_kernel<T><<<grid_for(total, kApplyBlock), kApplyBlock, 0, stream>>>(
        g, static_cast<const T*>(x), mean, invstd, weight, bias, param_dtype, static_cast<T*>(y), total);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void batch_norm_backward_reduce(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                                const float* mean, const float* invstd, float* sum_dy, float* sum_dy_xhat,
                                cudaStream_t stream) {
  if (g.c == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    backward_reduce_kernel<T><<<unsigned(g.c), kReduceBlock, 0, stream>>>(
        g, static_cast<const T*>(dy), static_cast<const T*>(x), mean, invstd, sum_dy, sum_dy_xhat);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void batch_norm_backward_input(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                               const float* mean, const float* invstd, const void* weight, DType param_dtype,
                               const float* sum_dy, const float* sum_dy_xhat, bool training, void* dx,
                               cudaStream_t stream) {
  int64_t total = g.n * g.c * g.hw;
  if (total == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    backward_input_kernel<T><<<grid_for(total, kApplyBlock), kApplyBlock, 0, stream>>>(
        g, static_cast<const T*>(dy), static_cast<const T*>(x), mean, invstd, weight, param_dtype, sum_dy,
        sum_dy_xhat, training, static_cast<T*>(dx), total);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace iqa::kernels::cuda
