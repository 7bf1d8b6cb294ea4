// CUDA batch-norm reductions for channels-last buffers, seen as [rows = N*H*W, C]. A block owns 32
// consecutive channels (one warp row reads 32 adjacent values: coalesced) and one chunk of rows; its
// 8 thread rows stride over the chunk and meet in shared memory. Each (chunk, channel) partial lands
// in a scratch buffer and a second kernel adds the chunks per channel in chunk order, so the result
// does not depend on scheduling (no atomics). The variance takes two passes like the NCHW kernels
// and the CPU reference: the sum first, then the squared deviations from the finished mean.
#include <cmath>

#include "kernels/batch_norm.h"
#include "kernels/cuda/row_common.cuh"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kChannelsPerBlock = 32;  // threadIdx.x: one warp across adjacent channels
constexpr int kRowThreads = 8;         // threadIdx.y: rows of the chunk, interleaved
constexpr int kFinalizeBlock = 256;

enum class Partial { Sum, SquaredDeviation, Backward };

// part0/part1 [chunks, C]. Sum: part0 = sum x. SquaredDeviation: part0 = sum (x - mean)^2.
// Backward (a = x, b = dy): part0 = sum dy, part1 = sum dy (x - mean).
template <class T, Partial P>
__global__ void column_partials_kernel(int64_t rows, int64_t channels, int64_t rows_per_chunk, const T* a,
                                       const T* b, const float* mean, float* part0, float* part1) {
  const int64_t c = int64_t(blockIdx.x) * kChannelsPerBlock + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * rows_per_chunk;
  const int64_t end = begin + rows_per_chunk < rows ? begin + rows_per_chunk : rows;
  float acc0 = 0.f, acc1 = 0.f;
  if (c < channels) {
    const float mu = P == Partial::Sum ? 0.f : mean[c];
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowThreads) {
      const float v = to_f32(a[r * channels + c]);
      if constexpr (P == Partial::Sum) {
        acc0 += v;
      } else if constexpr (P == Partial::SquaredDeviation) {
        const float d = v - mu;
        acc0 += d * d;
      } else {
        const float g = to_f32(b[r * channels + c]);
        acc0 += g;
        acc1 += g * (v - mu);
      }
    }
  }
  const float2 t = block_column_sums2<kRowThreads, kChannelsPerBlock>(acc0, acc1);
  if (threadIdx.y == 0 && c < channels) {
    part0[chunk * channels + c] = t.x;
    if (P == Partial::Backward) part1[chunk * channels + c] = t.y;
  }
}

// Chunk sums of one channel in chunk order, in double (up to 1024 terms).
__device__ __forceinline__ double sum_chunks(const float* part, int64_t chunks, int64_t channels, int64_t c) {
  double s = 0;
  for (int64_t k = 0; k < chunks; ++k) s += double(part[k * channels + c]);
  return s;
}

__global__ void finalize_mean_kernel(int64_t channels, int64_t chunks, double count, const float* part0,
                                     float* mean) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < channels; c += int64_t(gridDim.x) * blockDim.x)
    mean[c] = float(sum_chunks(part0, chunks, channels, c) / count);
}

__global__ void finalize_var_kernel(int64_t channels, int64_t chunks, double count, const float* part0, float eps,
                                    float momentum, void* running_mean, void* running_var, DType running_dtype,
                                    const float* mean, float* invstd) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < channels; c += int64_t(gridDim.x) * blockDim.x) {
    const double var = sum_chunks(part0, chunks, channels, c) / count;
    invstd[c] = rsqrtf(float(var) + eps);
    if (running_mean) {
      double rm = load_as_double(running_mean, running_dtype, c);
      store_from_double(running_mean, running_dtype, c, (1.0 - momentum) * rm + double(momentum) * mean[c]);
    }
    if (running_var) {
      double unbiased = count > 1 ? var * count / (count - 1) : var;
      double rv = load_as_double(running_var, running_dtype, c);
      store_from_double(running_var, running_dtype, c, (1.0 - momentum) * rv + double(momentum) * unbiased);
    }
  }
}

__global__ void finalize_backward_kernel(int64_t channels, int64_t chunks, const float* part0, const float* part1,
                                         const float* invstd, float* sum_dy, float* sum_dy_xhat) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < channels; c += int64_t(gridDim.x) * blockDim.x) {
    sum_dy[c] = float(sum_chunks(part0, chunks, channels, c));
    sum_dy_xhat[c] = float(sum_chunks(part1, chunks, channels, c) * double(invstd[c]));
  }
}

struct ReduceLaunch {
  int64_t chunks, rows_per_chunk;
  dim3 grid, block;
  explicit ReduceLaunch(const BatchNormGeometry& g)
      : chunks(batch_norm_nhwc_row_chunks(g.n)), rows_per_chunk((g.n + chunks - 1) / chunks),
        grid(unsigned((g.c + kChannelsPerBlock - 1) / kChannelsPerBlock), unsigned(chunks)),
        block(kChannelsPerBlock, kRowThreads) {}
};

void check_nhwc_geometry(const BatchNormGeometry& g, const char* who) {
  IQA_CHECK(g.hw == 1, who, ": expects the NHWC geometry (hw = 1), got hw = ", g.hw);
  IQA_CHECK((g.c + kChannelsPerBlock - 1) / kChannelsPerBlock <= INT32_MAX, who, ": too many channels ", g.c);
}

}  // namespace

void batch_norm_nhwc_train_stats(DType dtype, const BatchNormGeometry& g, const void* x, double eps, double momentum,
                                 void* running_mean, void* running_var, DType running_dtype, float* mean,
                                 float* invstd, float* partials, cudaStream_t stream) {
  check_nhwc_geometry(g, "batch_norm_nhwc_train_stats");
  if (g.c == 0 || g.n == 0) return;
  const ReduceLaunch l(g);
  const double count = double(g.count());
  const unsigned fgrid = grid_for(g.c, kFinalizeBlock);
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    const T* xt = static_cast<const T*>(x);
    column_partials_kernel<T, Partial::Sum><<<l.grid, l.block, 0, stream>>>(g.n, g.c, l.rows_per_chunk, xt, nullptr,
                                                                           nullptr, partials, nullptr);
    IQA_CUDA_CHECK_LAUNCH();
    finalize_mean_kernel<<<fgrid, kFinalizeBlock, 0, stream>>>(g.c, l.chunks, count, partials, mean);
    IQA_CUDA_CHECK_LAUNCH();
    column_partials_kernel<T, Partial::SquaredDeviation><<<l.grid, l.block, 0, stream>>>(
        g.n, g.c, l.rows_per_chunk, xt, nullptr, mean, partials, nullptr);
    IQA_CUDA_CHECK_LAUNCH();
  });
  finalize_var_kernel<<<fgrid, kFinalizeBlock, 0, stream>>>(g.c, l.chunks, count, partials, float(eps),
                                                            float(momentum), running_mean, running_var, running_dtype,
                                                            mean, invstd);
  IQA_CUDA_CHECK_LAUNCH();
}

void batch_norm_nhwc_backward_reduce(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                                     const float* mean, const float* invstd, float* sum_dy, float* sum_dy_xhat,
                                     float* partials, cudaStream_t stream) {
  check_nhwc_geometry(g, "batch_norm_nhwc_backward_reduce");
  if (g.c == 0) return;
  const unsigned fgrid = grid_for(g.c, kFinalizeBlock);
  if (g.n == 0) {  // empty sums: zero, like the NCHW kernels
    IQA_CUDA_CHECK(cudaMemsetAsync(sum_dy, 0, size_t(g.c) * sizeof(float), stream));
    IQA_CUDA_CHECK(cudaMemsetAsync(sum_dy_xhat, 0, size_t(g.c) * sizeof(float), stream));
    return;
  }
  const ReduceLaunch l(g);
  float* part0 = partials;
  float* part1 = partials + l.chunks * g.c;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    column_partials_kernel<T, Partial::Backward><<<l.grid, l.block, 0, stream>>>(
        g.n, g.c, l.rows_per_chunk, static_cast<const T*>(x), static_cast<const T*>(dy), mean, part0, part1);
  });
  IQA_CUDA_CHECK_LAUNCH();
  finalize_backward_kernel<<<fgrid, kFinalizeBlock, 0, stream>>>(g.c, l.chunks, part0, part1, invstd, sum_dy,
                                                                 sum_dy_xhat);
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace iqa::kernels::cuda
