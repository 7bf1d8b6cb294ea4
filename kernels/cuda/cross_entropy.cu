// Soft-target cross-entropy on the GPU: one warp per row (classifier rows are short: 1000 ImageNet
// classes, a handful for DSMix's heads), f32 statistics. The forward reads the row twice (max, then the
// shifted sums; the second read hits L1/L2) and writes three floats; a single block then averages the
// per-row losses in a fixed order, so the loss is deterministic without atomics. The backward is one
// pass: x and t in, dx (and dt) out.
#include "kernels/cross_entropy.h"
#include "kernels/cuda/row_common.cuh"

namespace iqa::kernels::cuda {

namespace {

using namespace cuda_detail;

constexpr int kWarpsPerBlock = 4;
constexpr int kMeanThreads = 256;

template <class T>
__global__ void soft_ce_rows(const T* __restrict__ x, const T* __restrict__ t, float* __restrict__ lse,
                             float* __restrict__ tsum, float* __restrict__ row_loss, int64_t rows, int64_t cols) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const T* xr = x + row * cols;
  const T* tr = t + row * cols;
  float mx = -INFINITY;
  for (int64_t j = lane; j < cols; j += kWarp) mx = fmaxf(mx, to_f32(xr[j]));
  mx = warp_max(mx);
  float se = 0.f, ts = 0.f, tdot = 0.f;  // sum exp(x - max), sum t, sum t (x - max)
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float shifted = to_f32(xr[j]) - mx;
    const float tv = to_f32(tr[j]);
    se += expf(shifted);
    ts += tv;
    tdot += tv * shifted;
  }
  se = warp_sum(se);
  ts = warp_sum(ts);
  tdot = warp_sum(tdot);
  if (lane == 0) {
    const float log_se = logf(se);
    lse[row] = mx + log_se;
    tsum[row] = ts;
    row_loss[row] = log_se * ts - tdot;
  }
}

template <class T>
__global__ void soft_ce_mean(const float* __restrict__ row_loss, T* __restrict__ loss, int64_t rows) {
  float s = 0.f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) s += row_loss[r];
  s = block_sum(s);
  if (threadIdx.x == 0) *loss = from_f32<T>(s / float(rows));
}

template <class T>
__global__ void soft_ce_backward(const T* __restrict__ x, const T* __restrict__ t, const float* __restrict__ lse,
                                 const float* __restrict__ tsum, const T* __restrict__ grad_loss, T* __restrict__ dx,
                                 T* __restrict__ dt, int64_t rows, int64_t cols) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const float scale = to_f32(*grad_loss) / float(rows);
  const float l = lse[row], ts = tsum[row];
  const int64_t off = row * cols;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float xv = to_f32(x[off + j]);
    if (dx) dx[off + j] = from_f32<T>(scale * (expf(xv - l) * ts - to_f32(t[off + j])));
    if (dt) dt[off + j] = from_f32<T>(scale * (l - xv));
  }
}

unsigned row_grid(int64_t rows) {
  const int64_t g = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  IQA_CHECK(g <= 2147483647LL, "cuda::soft_cross_entropy: ", rows, " rows exceed the grid limit");
  return unsigned(g);
}

}  // namespace

void soft_cross_entropy_forward(DType dtype, const void* logits, const void* target, void* loss, float* lse,
                                float* tsum, float* row_loss, int64_t rows, int64_t cols, cudaStream_t stream) {
  IQA_CHECK(rows > 0 && cols > 0, "cuda::soft_cross_entropy_forward: empty logits [", rows, ", ", cols, "]");
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    soft_ce_rows<T><<<row_grid(rows), kWarpsPerBlock * kWarp, 0, stream>>>(
        static_cast<const T*>(logits), static_cast<const T*>(target), lse, tsum, row_loss, rows, cols);
    IQA_CUDA_CHECK_LAUNCH();
    soft_ce_mean<T><<<1, kMeanThreads, 0, stream>>>(row_loss, static_cast<T*>(loss), rows);
    IQA_CUDA_CHECK_LAUNCH();
  });
}

void soft_cross_entropy_backward(DType dtype, const void* logits, const void* target, const float* lse,
                                 const float* tsum, const void* grad_loss, void* grad_logits, void* grad_target,
                                 int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0 || (!grad_logits && !grad_target)) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    soft_ce_backward<T><<<row_grid(rows), kWarpsPerBlock * kWarp, 0, stream>>>(
        static_cast<const T*>(logits), static_cast<const T*>(target), lse, tsum, static_cast<const T*>(grad_loss),
        static_cast<T*>(grad_logits), static_cast<T*>(grad_target), rows, cols);
    IQA_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace iqa::kernels::cuda
