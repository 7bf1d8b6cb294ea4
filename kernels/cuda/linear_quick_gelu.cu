// QuickGELU forward and the fused backward (grad_pre + bias gradient) on the GPU, f32 math for every
// storage dtype. Both are memory bound: 16-byte accesses where the row width and the pointers allow.
//
// Backward layout: a block of (32, 8) threads covers a tile of 32 * kVec columns and one chunk of
// ~128 rows; each thread walks its rows writing grad_pre and keeping kVec running column sums, the 8
// row lanes are added in shared memory and the tile's partial sums land in workspace[chunk, col]. A
// second kernel adds the chunks of each column in order: deterministic, and no atomics contention on
// the 3072 bias entries of ViT-B's MLP.
#include "kernels/cuda/row_common.cuh"
#include "kernels/linear_quick_gelu.h"

namespace iqa::kernels::cuda {

namespace {

using namespace cuda_detail;

constexpr float kQuickGeluScaleF = 1.702f;
constexpr int kBlock = 256;
constexpr int kColLanes = 32, kRowLanes = 8;

__device__ __forceinline__ float sigmoid_f32(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float quick_gelu_f32(float x) { return x * sigmoid_f32(kQuickGeluScaleF * x); }
__device__ __forceinline__ float quick_gelu_grad_f32(float s) {
  float sg = sigmoid_f32(kQuickGeluScaleF * s);
  return sg + s * kQuickGeluScaleF * sg * (1.0f - sg);
}

template <class T, int kVec>
__global__ void quick_gelu_forward_kernel(const T* __restrict__ pre, T* __restrict__ y, int64_t packs) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += int64_t(gridDim.x) * blockDim.x) {
    Pack<T, kVec> p = reinterpret_cast<const Pack<T, kVec>*>(pre)[i];
#pragma unroll
    for (int e = 0; e < kVec; ++e) p.v[e] = from_f32<T>(quick_gelu_f32(to_f32(p.v[e])));
    reinterpret_cast<Pack<T, kVec>*>(y)[i] = p;
  }
}

int64_t row_chunks(int64_t rows) {
  int64_t c = (rows + 127) / 128;  // ~128 rows per chunk: enough blocks in flight at ViT widths
  return c < 1 ? 1 : (c > 256 ? 256 : c);
}

template <class T, int kVec>
__global__ void quick_gelu_backward_partial(const T* __restrict__ pre, const T* __restrict__ g, T* __restrict__ dpre,
                                            float* __restrict__ ws, int64_t rows, int64_t cols,
                                            int64_t rows_per_chunk) {
  __shared__ float part[kRowLanes][kColLanes * kVec];
  const int64_t col = (int64_t(blockIdx.x) * kColLanes + threadIdx.x) * kVec;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  float acc[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc[e] = 0.f;
  if (col < cols) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      const int64_t off = r * cols + col;
      Pack<T, kVec> ps = *reinterpret_cast<const Pack<T, kVec>*>(pre + off);
      Pack<T, kVec> gs = *reinterpret_cast<const Pack<T, kVec>*>(g + off);
      Pack<T, kVec> out;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const float d = to_f32(gs.v[e]) * quick_gelu_grad_f32(to_f32(ps.v[e]));
        out.v[e] = from_f32<T>(d);
        acc[e] += to_f32(out.v[e]);  // sum what is stored, as a separate reduction of grad_pre would
      }
      *reinterpret_cast<Pack<T, kVec>*>(dpre + off) = out;
    }
  }
  if (ws == nullptr) return;  // no bias gradient wanted (uniform over the block)
#pragma unroll
  for (int e = 0; e < kVec; ++e) part[threadIdx.y][threadIdx.x * kVec + e] = acc[e];
  __syncthreads();
  // The first row lane's threads add the 8 lanes, each for its own kVec columns.
  if (threadIdx.y == 0 && col < cols) {
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float t = 0.f;
      for (int i = 0; i < kRowLanes; ++i) t += part[i][threadIdx.x * kVec + e];
      ws[int64_t(blockIdx.y) * cols + col + e] = t;
    }
  }
}

template <class T>
__global__ void bias_grad_final(const float* __restrict__ ws, T* __restrict__ db, int64_t chunks, int64_t cols) {
  const int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  float t = 0.f;
  for (int64_t c = 0; c < chunks; ++c) t += ws[c * cols + col];
  db[col] = from_f32<T>(t);
}

}  // namespace

void quick_gelu_forward(DType dtype, const void* pre, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    constexpr int V = vec_width<T>();
    const int64_t vec_n = aligned16(pre) && aligned16(y) ? n / V * V : 0;
    if (vec_n > 0)
      quick_gelu_forward_kernel<T, V><<<grid_for(vec_n / V, kBlock), kBlock, 0, stream>>>(
          static_cast<const T*>(pre), static_cast<T*>(y), vec_n / V);
    if (vec_n < n)  // the tail (or everything when unaligned), one element per thread
      quick_gelu_forward_kernel<T, 1><<<grid_for(n - vec_n, kBlock), kBlock, 0, stream>>>(
          static_cast<const T*>(pre) + vec_n, static_cast<T*>(y) + vec_n, n - vec_n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

int64_t quick_gelu_backward_bias_workspace_floats(int64_t rows, int64_t cols) { return row_chunks(rows) * cols; }

void quick_gelu_backward_bias(DType dtype, const void* pre, const void* grad_y, void* grad_pre, void* grad_bias,
                              int64_t rows, int64_t cols, float* workspace, cudaStream_t stream) {
  if (rows == 0 || cols == 0) {
    if (grad_bias && cols > 0) IQA_CUDA_CHECK(cudaMemsetAsync(grad_bias, 0, size_t(cols) * dtype_size(dtype), stream));
    return;
  }
  IQA_CHECK(grad_bias == nullptr || workspace != nullptr,
            "cuda::quick_gelu_backward_bias: the bias gradient needs a workspace");
  const int64_t chunks = row_chunks(rows), per_chunk = (rows + chunks - 1) / chunks;
  IQA_CHECK(chunks <= 65535, "cuda::quick_gelu_backward_bias: too many row chunks");
  float* ws = grad_bias ? workspace : nullptr;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    constexpr int V = vec_width<T>();
    const T* pp = static_cast<const T*>(pre);
    const T* gp = static_cast<const T*>(grad_y);
    T* dp = static_cast<T*>(grad_pre);
    const bool vec = cols % V == 0 && aligned16(pre) && aligned16(grad_y) && aligned16(grad_pre);
    const int kv = vec ? V : 1;
    dim3 grid(unsigned((cols + int64_t(kColLanes) * kv - 1) / (int64_t(kColLanes) * kv)), unsigned(chunks));
    dim3 block(kColLanes, kRowLanes);
    if (vec) quick_gelu_backward_partial<T, V><<<grid, block, 0, stream>>>(pp, gp, dp, ws, rows, cols, per_chunk);
    else quick_gelu_backward_partial<T, 1><<<grid, block, 0, stream>>>(pp, gp, dp, ws, rows, cols, per_chunk);
    IQA_CUDA_CHECK_LAUNCH();
    if (grad_bias) {
      bias_grad_final<T><<<unsigned((cols + 255) / 256), 256, 0, stream>>>(ws, static_cast<T*>(grad_bias), chunks,
                                                                           cols);
      IQA_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace iqa::kernels::cuda
