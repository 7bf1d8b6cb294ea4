// Softmax / log-softmax over the last dim on the GPU, f32 math for every storage dtype.
//
// Rows up to 1024 columns: one warp per row, the row held in registers, so x is read once and y written
// once (the bandwidth floor); 16-byte accesses when every row is 16-byte aligned. Longer rows: one block
// per row with an online max/sum pass and a write pass (the second read mostly hits L2).
#include "kernels/cuda/row_common.cuh"
#include "kernels/softmax.h"

namespace iqa::kernels::cuda {

namespace {

using namespace cuda_detail;

constexpr int kWarpsPerBlock = 4;
constexpr int kBlockThreads = 512;

template <class T, int kVec, int kIters, bool kLog>
__global__ void softmax_warp_forward(const T* x, T* y, int64_t rows, int64_t cols) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  float v[kIters][kVec];
  load_row<T, kVec, kIters>(x + row * cols, cols, v, -INFINITY);
  float mx = -INFINITY;
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) mx = fmaxf(mx, v[it][e]);
  mx = warp_max(mx);
  float total = 0.f;
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float ex = __expf(v[it][e] - mx);  // padding (-inf) contributes 0
      total += ex;
      if (!kLog) v[it][e] = ex;
    }
  total = warp_sum(total);
  const float inv = 1.f / total, log_total = __logf(total);
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) v[it][e] = kLog ? v[it][e] - mx - log_total : v[it][e] * inv;
  store_row<T, kVec, kIters>(y + row * cols, cols, v);
}

template <class T, int kVec, int kIters, bool kLog>
__global__ void softmax_warp_backward(const T* y, const T* g, T* dx, int64_t rows, int64_t cols) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  float yv[kIters][kVec], gv[kIters][kVec];
  load_row<T, kVec, kIters>(y + row * cols, cols, yv, 0.f);
  load_row<T, kVec, kIters>(g + row * cols, cols, gv, 0.f);
  float dot = 0.f;  // softmax: sum(g * y); log_softmax: sum(g). Padding is 0 in both.
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) dot += kLog ? gv[it][e] : gv[it][e] * yv[it][e];
  dot = warp_sum(dot);
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e)
      gv[it][e] = kLog ? gv[it][e] - __expf(yv[it][e]) * dot : yv[it][e] * (gv[it][e] - dot);
  store_row<T, kVec, kIters>(dx + row * cols, cols, gv);
}

template <class T, bool kLog>
__global__ void softmax_block_forward(const T* x, T* y, int64_t cols) {
  const T* xr = x + int64_t(blockIdx.x) * cols;
  T* yr = y + int64_t(blockIdx.x) * cols;
  // Online max/sum: each thread keeps (max, sum of exp(x - max)) and rescales when the max grows.
  float m = -INFINITY, s = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = to_f32(xr[j]);
    if (v > m) {
      s = (m == -INFINITY ? 0.f : s * __expf(m - v)) + 1.f;
      m = v;
    } else {
      s += __expf(v - m);
    }
  }
  const float mx = block_max(m);
  const float total = block_sum(m == -INFINITY ? 0.f : s * __expf(m - mx));
  const float inv = 1.f / total, log_total = __logf(total);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = to_f32(xr[j]) - mx;
    yr[j] = from_f32<T>(kLog ? v - log_total : __expf(v) * inv);
  }
}

template <class T, bool kLog>
__global__ void softmax_block_backward(const T* y, const T* g, T* dx, int64_t cols) {
  const int64_t off = int64_t(blockIdx.x) * cols;
  float dot = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    dot += kLog ? to_f32(g[off + j]) : to_f32(g[off + j]) * to_f32(y[off + j]);
  dot = block_sum(dot);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float yv = to_f32(y[off + j]), gv = to_f32(g[off + j]);
    dx[off + j] = from_f32<T>(kLog ? gv - __expf(yv) * dot : yv * (gv - dot));
  }
}

constexpr int64_t kWarpMaxCols = 1024;

template <class T, bool kLog>
void forward_typed(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (cols <= kWarpMaxCols) {
    bool vec = cols % vec_width<T>() == 0 && aligned16(x) && aligned16(y);
    unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
    dispatch_warp<T>(cols, vec, "softmax", [&](auto vec_c, auto iters_c) {
      softmax_warp_forward<T, decltype(vec_c)::value, decltype(iters_c)::value, kLog>
          <<<grid, kWarpsPerBlock * kWarp, 0, stream>>>(x, y, rows, cols);
    });
  } else {
    softmax_block_forward<T, kLog><<<unsigned(rows), kBlockThreads, 0, stream>>>(x, y, cols);
  }
  IQA_CUDA_CHECK_LAUNCH();
}

template <class T, bool kLog>
void backward_typed(const T* y, const T* g, T* dx, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (cols <= kWarpMaxCols) {
    bool vec = cols % vec_width<T>() == 0 && aligned16(y) && aligned16(g) && aligned16(dx);
    unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
    dispatch_warp<T>(cols, vec, "softmax", [&](auto vec_c, auto iters_c) {
      softmax_warp_backward<T, decltype(vec_c)::value, decltype(iters_c)::value, kLog>
          <<<grid, kWarpsPerBlock * kWarp, 0, stream>>>(y, g, dx, rows, cols);
    });
  } else {
    softmax_block_backward<T, kLog><<<unsigned(rows), kBlockThreads, 0, stream>>>(y, g, dx, cols);
  }
  IQA_CUDA_CHECK_LAUNCH();
}

void check_rows(int64_t rows, const char* who) {
  IQA_CHECK(rows <= 2147483647LL, who, ": ", rows, " rows exceed the grid limit");
}

}  // namespace

void softmax_forward(bool log, DType dtype, const void* x, void* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  check_rows(rows, "cuda::softmax_forward");
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    if (log) forward_typed<T, true>(static_cast<const T*>(x), static_cast<T*>(y), rows, cols, stream);
    else forward_typed<T, false>(static_cast<const T*>(x), static_cast<T*>(y), rows, cols, stream);
  });
}

void softmax_backward(bool log, DType dtype, const void* y, const void* grad_y, void* grad_x, int64_t rows,
                      int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  check_rows(rows, "cuda::softmax_backward");
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    const T* yp = static_cast<const T*>(y);
    const T* gp = static_cast<const T*>(grad_y);
    T* dp = static_cast<T*>(grad_x);
    if (log) backward_typed<T, true>(yp, gp, dp, rows, cols, stream);
    else backward_typed<T, false>(yp, gp, dp, rows, cols, stream);
  });
}

}  // namespace iqa::kernels::cuda
