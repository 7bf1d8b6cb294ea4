// Pieces shared by the row-wise CUDA kernels (softmax, layer norm): warp/block reductions and the
// register layout of a row held by one warp.
#pragma once
#include <type_traits>

#include "kernels/cuda/dtype_io.cuh"

namespace iqa::kernels::cuda_detail {

constexpr int kWarp = 32;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[kWarp];
  __syncthreads();  // the buffer may still be read by a previous call
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[kWarp];
  __syncthreads();
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_max(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : -INFINITY;
  return warp_max(v);
}

// kVec consecutive elements moved as one 16-byte (or smaller) access.
template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

// A row held by one warp: lane l owns elements (it * 32 + l) * kVec + [0, kVec) for it < kIters, so each
// iteration of the warp reads one contiguous, coalesced span. Elements past `cols` read as `fill`.
template <class T, int kVec, int kIters>
__device__ __forceinline__ void load_row(const T* row, int64_t cols, float (&out)[kIters][kVec], float fill) {
  const int lane = threadIdx.x % kWarp;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int64_t base = (int64_t(it) * kWarp + lane) * kVec;
    if (base < cols) {  // cols is a multiple of kVec whenever kVec > 1
      Pack<T, kVec> p = *reinterpret_cast<const Pack<T, kVec>*>(row + base);
#pragma unroll
      for (int v = 0; v < kVec; ++v) out[it][v] = to_f32(p.v[v]);
    } else {
#pragma unroll
      for (int v = 0; v < kVec; ++v) out[it][v] = fill;
    }
  }
}

template <class T, int kVec, int kIters>
__device__ __forceinline__ void store_row(T* row, int64_t cols, const float (&in)[kIters][kVec]) {
  const int lane = threadIdx.x % kWarp;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int64_t base = (int64_t(it) * kWarp + lane) * kVec;
    if (base < cols) {
      Pack<T, kVec> p;
#pragma unroll
      for (int v = 0; v < kVec; ++v) p.v[v] = from_f32<T>(in[it][v]);
      *reinterpret_cast<Pack<T, kVec>*>(row + base) = p;
    }
  }
}

// Elements per 16-byte access for T, and whether every row of a [rows, cols] buffer can use it.
template <class T>
constexpr int vec_width() {
  return int(16 / sizeof(T));
}
inline bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Smallest power of two kIters (1..32) with kIters * 32 * vec >= cols.
inline int warp_iters(int64_t cols, int vec) {
  int it = 1;
  while (int64_t(it) * kWarp * vec < cols) it *= 2;
  return it;
}

// Runtime (vec, iters) -> template instance of a warp-per-row kernel. Only kVec * kIters <= 32
// (32 floats per lane held in registers) exist. `launch` receives (integral_constant kVec,
// integral_constant kIters); `op` names the caller in the internal-error messages.
template <int kVec, class Launch>
void with_iters(int iters, const char* op, Launch&& launch) {
  auto go = [&](auto iters_c) {
    constexpr int I = decltype(iters_c)::value;
    if constexpr (kVec * I <= 32) launch(std::integral_constant<int, kVec>{}, iters_c);
    else fail(cat(op, ": internal error, row too long for the warp kernel"));
  };
  switch (iters) {
    case 1: go(std::integral_constant<int, 1>{}); break;
    case 2: go(std::integral_constant<int, 2>{}); break;
    case 4: go(std::integral_constant<int, 4>{}); break;
    case 8: go(std::integral_constant<int, 8>{}); break;
    case 16: go(std::integral_constant<int, 16>{}); break;
    case 32: go(std::integral_constant<int, 32>{}); break;
    default: fail(cat(op, ": internal error, bad iteration count"));
  }
}

template <class T, class Launch>
void dispatch_warp(int64_t cols, bool vectorised, const char* op, Launch&& launch) {
  constexpr int V = vec_width<T>();
  if (vectorised) with_iters<V>(warp_iters(cols, V), op, launch);
  else with_iters<1>(warp_iters(cols, 1), op, launch);
}

// Column sums in a (Tile columns x Lanes rows) block, two accumulators at once (batch norm NHWC's
// channel partials, layer norm's dweight/dbias): each thread brings its two sums over its rows of
// column threadIdx.x; thread (x, 0) gets the column's totals, added in lane order (the others get
// partial values they must not use). Every thread of the block must call it.
template <int Lanes, int Tile>
__device__ __forceinline__ float2 block_column_sums2(float a0, float a1) {
  __shared__ float s0[Lanes][Tile + 1], s1[Lanes][Tile + 1];  // +1: no bank conflicts down a column
  s0[threadIdx.y][threadIdx.x] = a0;
  s1[threadIdx.y][threadIdx.x] = a1;
  __syncthreads();
  float t0 = 0.f, t1 = 0.f;
  if (threadIdx.y == 0)
    for (int y = 0; y < Lanes; ++y) {
      t0 += s0[y][threadIdx.x];
      t1 += s1[y][threadIdx.x];
    }
  return make_float2(t0, t1);
}

}  // namespace iqa::kernels::cuda_detail
