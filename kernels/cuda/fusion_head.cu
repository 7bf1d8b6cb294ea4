// The LocalGlobal fusion head on CUDA (kernels/fusion_head.h), one kernel each way.
//
// Forward: one block per sample. The token mean is a column reduction of a [N, D] slab (196 x 768 at
// SIND's shapes, 294 KiB in bf16); threads own 16-byte column packs and `slices` groups of them split
// the token rows, so each warp reads 512 contiguous bytes per step. Slices are combined in shared memory
// in a fixed order, then the 1280-long dot product is a block reduction (also fixed order).
//
// Backward: one launch with two kinds of blocks. The first few blocks own one column of the weight
// gradient each thread (plus the bias) and sum over the batch sequentially: deterministic, no atomics,
// and B = 256 steps of coalesced loads is short. The remaining blocks stream the token gradient
// dq[b] * w[G + d] / N (the bulk of the traffic, B*N*D writes) and the CLS gradient dq[b] * w[i] with
// 16-byte stores. The weight blocks come first in the grid so they start early.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/fusion_head.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kWarp = 32;
constexpr int kBackwardThreads = 256;

template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// Sum over the block; blockDim.x must be a whole number of warps (the shuffles use the full mask).
__device__ __forceinline__ float block_sum(float v, float* scratch /* >= 32 floats */) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = (blockDim.x + kWarp - 1) / kWarp;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0;
  if (threadIdx.x == 0)
    for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;  // valid in thread 0
}

// grid = batch; block = fusion_head_forward_launch(): lanes * slices threads that read tokens, rounded
// up to whole warps.
template <class T, int V>
__global__ void fusion_head_forward_kernel(FusionHeadShape s, const T* __restrict__ g, const T* __restrict__ tokens,
                                           const T* __restrict__ w, const T* __restrict__ bias, T* __restrict__ out,
                                           float* __restrict__ token_mean, int lanes, int slices) {
  extern __shared__ float partial[];  // [slices][D]
  __shared__ float scratch[kWarp];
  const int64_t b = blockIdx.x, G = s.global, N = s.tokens, D = s.width;
  const int lane = threadIdx.x % lanes, slice = threadIdx.x / lanes;  // slice >= slices: a tail thread
  const T* slab = tokens + b * N * D;
  for (int64_t p = lane; slice < slices && p < D / V; p += lanes) {
    float acc[V];
#pragma unroll
    for (int j = 0; j < V; ++j) acc[j] = 0.f;
    for (int64_t t = slice; t < N; t += slices) {
      const Pack<T, V> pk = *reinterpret_cast<const Pack<T, V>*>(slab + t * D + p * V);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += to_f32<T>(pk.v[j]);
    }
#pragma unroll
    for (int j = 0; j < V; ++j) partial[slice * D + p * V + j] = acc[j];
  }
  __syncthreads();
  float dot = 0;
  const float inv_n = 1.f / float(N);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float sum = 0;
    for (int k = 0; k < slices; ++k) sum += partial[k * D + d];
    const float mean = sum * inv_n;
    token_mean[b * D + d] = mean;
    dot += to_f32<T>(w[G + d]) * mean;
  }
  for (int64_t i = threadIdx.x; i < G; i += blockDim.x) dot += to_f32<T>(w[i]) * to_f32<T>(g[b * G + i]);
  const float total = block_sum(dot, scratch);
  if (threadIdx.x == 0) out[b] = from_f32<T>(total + to_f32<T>(bias[0]));
}

template <class T, int V>
__global__ void __launch_bounds__(kBackwardThreads)
    fusion_head_backward_kernel(FusionHeadShape s, const T* __restrict__ dq, const T* __restrict__ g,
                                const float* __restrict__ token_mean, const T* __restrict__ w, T* __restrict__ dg,
                                T* __restrict__ dtokens, T* __restrict__ dw, T* __restrict__ dbias, int weight_blocks) {
  const int64_t B = s.batch, G = s.global, N = s.tokens, D = s.width;
  if (int(blockIdx.x) < weight_blocks) {
    const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // G + D columns, then the bias
    if (c > G + D) return;
    float acc = 0;
    for (int64_t b = 0; b < B; ++b) {
      const float feature = c < G ? to_f32<T>(g[b * G + c]) : (c < G + D ? token_mean[b * D + (c - G)] : 1.f);
      acc += to_f32<T>(dq[b]) * feature;
    }
    if (c < G + D) dw[c] = from_f32<T>(acc);
    else dbias[0] = from_f32<T>(acc);
    return;
  }
  const int64_t stride = int64_t(gridDim.x - weight_blocks) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x - weight_blocks) * blockDim.x + threadIdx.x;
  const float inv_n = 1.f / float(N);
  const int64_t token_packs = B * N * D / V;
  for (int64_t p = first; p < token_packs; p += stride) {
    const int64_t e = p * V, b = e / (N * D), d0 = e % D;
    const float scale = to_f32<T>(dq[b]) * inv_n;
    Pack<T, V> pk;
#pragma unroll
    for (int j = 0; j < V; ++j) pk.v[j] = from_f32<T>(scale * to_f32<T>(w[G + d0 + j]));
    *reinterpret_cast<Pack<T, V>*>(dtokens + e) = pk;
  }
  for (int64_t e = first; e < B * G; e += stride) dg[e] = from_f32<T>(to_f32<T>(dq[e / G]) * to_f32<T>(w[e % G]));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T, int V>
void launch_forward(const FusionHeadShape& s, const void* g, const void* tokens, const void* w, const void* bias,
                    void* out, float* token_mean, cudaStream_t stream) {
  const FusionHeadForwardLaunch l = fusion_head_forward_launch(s, V);
  IQA_CHECK(l.smem_bytes <= (48u << 10), "fusion_head (cuda): token width ", s.width, " too large for one block");
  fusion_head_forward_kernel<T, V><<<unsigned(s.batch), unsigned(l.threads), l.smem_bytes, stream>>>(
      s, static_cast<const T*>(g), static_cast<const T*>(tokens), static_cast<const T*>(w),
      static_cast<const T*>(bias), static_cast<T*>(out), token_mean, l.lanes, l.slices);
  IQA_CUDA_CHECK_LAUNCH();
}

template <class T, int V>
void launch_backward(const FusionHeadShape& s, const void* dq, const void* g, const float* token_mean, const void* w,
                     void* dg, void* dtokens, void* dw, void* dbias, cudaStream_t stream) {
  const int weight_blocks = int((s.global + s.width + 1 + kBackwardThreads - 1) / kBackwardThreads);
  const int64_t work = std::max<int64_t>(s.batch * s.tokens * s.width / V, s.batch * s.global);
  const int stream_blocks = int(std::clamp<int64_t>((work + kBackwardThreads - 1) / kBackwardThreads, 1, 4096));
  fusion_head_backward_kernel<T, V><<<unsigned(weight_blocks + stream_blocks), kBackwardThreads, 0, stream>>>(
      s, static_cast<const T*>(dq), static_cast<const T*>(g), token_mean, static_cast<const T*>(w),
      static_cast<T*>(dg), static_cast<T*>(dtokens), static_cast<T*>(dw), static_cast<T*>(dbias), weight_blocks);
  IQA_CUDA_CHECK_LAUNCH();
}

void check_shape(const FusionHeadShape& s) {
  IQA_CHECK(s.batch > 0 && s.batch < (int64_t(1) << 31) && s.global >= 0 && s.tokens > 0 && s.width > 0,
            "fusion_head (cuda): invalid shape B=", s.batch, " G=", s.global, " N=", s.tokens, " D=", s.width);
}

}  // namespace

void fusion_head_forward(DType dtype, const FusionHeadShape& s, const void* global_cls, const void* local_tokens,
                         const void* weight, const void* bias, void* out, float* token_mean, cudaStream_t stream) {
  check_shape(s);
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    constexpr int V = int(16 / sizeof(T));
    if (s.width % V == 0 && aligned16(local_tokens))
      launch_forward<T, V>(s, global_cls, local_tokens, weight, bias, out, token_mean, stream);
    else
      launch_forward<T, 1>(s, global_cls, local_tokens, weight, bias, out, token_mean, stream);
  });
}

void fusion_head_backward(DType dtype, const FusionHeadShape& s, const void* grad_out, const void* global_cls,
                          const float* token_mean, const void* weight, void* grad_global, void* grad_tokens,
                          void* grad_weight, void* grad_bias, cudaStream_t stream) {
  check_shape(s);
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    constexpr int V = int(16 / sizeof(T));
    if (s.width % V == 0 && aligned16(grad_tokens))
      launch_backward<T, V>(s, grad_out, global_cls, token_mean, weight, grad_global, grad_tokens, grad_weight,
                            grad_bias, stream);
    else
      launch_backward<T, 1>(s, grad_out, global_cls, token_mean, weight, grad_global, grad_tokens, grad_weight,
                            grad_bias, stream);
  });
}

}  // namespace iqa::kernels::cuda
