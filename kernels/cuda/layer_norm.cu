// LayerNorm over the last dim on the GPU: f32 statistics for every storage dtype.
//
// Forward and the dx backward: one warp per row with the row in registers up to 1024 columns (one read
// of each input, two-pass mean/variance from registers, so no cancellation), one block per row above.
// dweight/dbias are column sums over all rows: a first kernel sums fixed chunks of rows into an f32
// workspace, a second adds the chunks in order, so the result is deterministic (no atomics).
//
// add_layer_norm runs the same kernels with a residual: the row is loaded as x + residual, rounded to the
// storage type (the value an unfused add would have stored, so both paths normalise the same numbers),
// stored as the sum and normalised from registers. Its backward adds grad_sum to dx in the same pass.
#include "kernels/cuda/row_common.cuh"
#include "kernels/layer_norm.h"

namespace iqa::kernels::cuda {

namespace {

using namespace cuda_detail;

constexpr int kWarpsPerBlock = 4;
constexpr int kBlockThreads = 512;
constexpr int64_t kWarpMaxCols = 1024;

// v (+)= the rounded x + residual of one warp-held row, stored to `sum`.
template <class T, int kVec, int kIters>
__device__ __forceinline__ void add_residual_row(const T* residual, T* sum, int64_t cols, float (&v)[kIters][kVec]) {
  float r[kIters][kVec];
  load_row<T, kVec, kIters>(residual, cols, r, 0.f);
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) v[it][e] = to_f32(from_f32<T>(v[it][e] + r[it][e]));
  store_row<T, kVec, kIters>(sum, cols, v);
}

// residual/sum null: plain LayerNorm of x.
template <class T, int kVec, int kIters>
__global__ void ln_warp_forward(const T* x, const T* residual, T* sum, const T* w, const T* b, T* y, float* mean,
                                float* rstd, int64_t rows, int64_t cols, float eps) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  float v[kIters][kVec];
  load_row<T, kVec, kIters>(x + row * cols, cols, v, 0.f);
  if (residual) add_residual_row<T, kVec, kIters>(residual + row * cols, sum + row * cols, cols, v);
  float s = 0.f;
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) s += v[it][e];
  const float mu = warp_sum(s) / float(cols);
  const int lane = threadIdx.x % kWarp;
  float sq = 0.f;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const bool valid = (int64_t(it) * kWarp + lane) * kVec < cols;  // padding must not add mu^2
#pragma unroll
    for (int e = 0; e < kVec; ++e) sq += valid ? (v[it][e] - mu) * (v[it][e] - mu) : 0.f;
  }
  const float rs = rsqrtf(warp_sum(sq) / float(cols) + eps);
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
  float wv[kIters][kVec], bv[kIters][kVec];
  if (w) load_row<T, kVec, kIters>(w, cols, wv, 1.f);
  if (b) load_row<T, kVec, kIters>(b, cols, bv, 0.f);
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) v[it][e] = (v[it][e] - mu) * rs * (w ? wv[it][e] : 1.f) + (b ? bv[it][e] : 0.f);
  store_row<T, kVec, kIters>(y + row * cols, cols, v);
}

// Rows too long for registers: with a residual, the first pass writes the rounded sum and the later
// passes read it back (x = sum then).
template <class T>
__global__ void ln_block_forward(const T* x, const T* residual, T* sum, const T* w, const T* b, T* y, float* mean,
                                 float* rstd, int64_t cols, float eps) {
  const int64_t off = int64_t(blockIdx.x) * cols;
  float s = 0.f;
  if (residual) {
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const T v = from_f32<T>(to_f32(x[off + j]) + to_f32(residual[off + j]));
      sum[off + j] = v;
      s += to_f32(v);
    }
    x = sum;  // each thread re-reads only the elements it wrote itself
  } else {
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += to_f32(x[off + j]);
  }
  const float mu = block_sum(s) / float(cols);
  float sq = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float d = to_f32(x[off + j]) - mu;
    sq += d * d;
  }
  const float rs = rsqrtf(block_sum(sq) / float(cols) + eps);
  if (threadIdx.x == 0) {
    mean[blockIdx.x] = mu;
    rstd[blockIdx.x] = rs;
  }
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = (to_f32(x[off + j]) - mu) * rs;
    if (w) v *= to_f32(w[j]);
    if (b) v += to_f32(b[j]);
    y[off + j] = from_f32<T>(v);
  }
}

// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w.
// gs (add_layer_norm's grad_sum) is added to dx when non-null.
template <class T, int kVec, int kIters>
__global__ void ln_warp_backward_dx(const T* x, const T* w, const float* mean, const float* rstd, const T* g,
                                    const T* gs, T* dx, int64_t rows, int64_t cols) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  float xh[kIters][kVec], dxh[kIters][kVec];
  load_row<T, kVec, kIters>(x + row * cols, cols, xh, 0.f);
  load_row<T, kVec, kIters>(g + row * cols, cols, dxh, 0.f);  // padding: g = 0, so dxhat = 0
  const float mu = mean[row], rs = rstd[row];
  if (w) {
    float wv[kIters][kVec];
    load_row<T, kVec, kIters>(w, cols, wv, 0.f);
#pragma unroll
    for (int it = 0; it < kIters; ++it)
#pragma unroll
      for (int e = 0; e < kVec; ++e) dxh[it][e] *= wv[it][e];
  }
  float s1 = 0.f, s2 = 0.f;
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      xh[it][e] = (xh[it][e] - mu) * rs;
      s1 += dxh[it][e];
      s2 += dxh[it][e] * xh[it][e];
    }
  const float m1 = warp_sum(s1) / float(cols), m2 = warp_sum(s2) / float(cols);
#pragma unroll
  for (int it = 0; it < kIters; ++it)
#pragma unroll
    for (int e = 0; e < kVec; ++e) dxh[it][e] = rs * (dxh[it][e] - m1 - xh[it][e] * m2);
  if (gs) {
    float extra[kIters][kVec];
    load_row<T, kVec, kIters>(gs + row * cols, cols, extra, 0.f);
#pragma unroll
    for (int it = 0; it < kIters; ++it)
#pragma unroll
      for (int e = 0; e < kVec; ++e) dxh[it][e] += extra[it][e];
  }
  store_row<T, kVec, kIters>(dx + row * cols, cols, dxh);
}

template <class T>
__global__ void ln_block_backward_dx(const T* x, const T* w, const float* mean, const float* rstd, const T* g,
                                     const T* gs, T* dx, int64_t cols) {
  const int64_t off = int64_t(blockIdx.x) * cols;
  const float mu = mean[blockIdx.x], rs = rstd[blockIdx.x];
  float s1 = 0.f, s2 = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float dxhat = to_f32(g[off + j]) * (w ? to_f32(w[j]) : 1.f);
    s1 += dxhat;
    s2 += dxhat * (to_f32(x[off + j]) - mu) * rs;
  }
  const float m1 = block_sum(s1) / float(cols), m2 = block_sum(s2) / float(cols);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float dxhat = to_f32(g[off + j]) * (w ? to_f32(w[j]) : 1.f);
    float xhat = (to_f32(x[off + j]) - mu) * rs;
    dx[off + j] = from_f32<T>(rs * (dxhat - m1 - xhat * m2) + (gs ? to_f32(gs[off + j]) : 0.f));
  }
}

// Column sums for dweight/dbias. Block (32, 8) covers 32 columns of one chunk of rows; partial sums go to
// ws_w / ws_b [chunks, cols].
constexpr int kColTile = 32, kRowLanes = 8;

int64_t row_chunks(int64_t rows) {
  int64_t c = (rows + 127) / 128;  // ~128 rows per chunk keeps enough blocks in flight for ViT widths
  return c < 1 ? 1 : (c > 128 ? 128 : c);
}

template <class T>
__global__ void ln_param_grad_partial(const T* x, const float* mean, const float* rstd, const T* g, float* ws_w,
                                      float* ws_b, int64_t rows, int64_t cols, int64_t rows_per_chunk) {
  const int64_t col = int64_t(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  float aw = 0.f, ab = 0.f;
  if (col < cols) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      float gv = to_f32(g[r * cols + col]);
      aw += gv * (to_f32(x[r * cols + col]) - mean[r]) * rstd[r];
      ab += gv;
    }
  }
  const float2 t = block_column_sums2<kRowLanes, kColTile>(aw, ab);
  if (threadIdx.y == 0 && col < cols) {
    ws_w[int64_t(blockIdx.y) * cols + col] = t.x;
    ws_b[int64_t(blockIdx.y) * cols + col] = t.y;
  }
}

template <class T>
__global__ void ln_param_grad_final(const float* ws_w, const float* ws_b, T* dw, T* db, int64_t chunks,
                                    int64_t cols) {
  const int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  float tw = 0.f, tb = 0.f;
  for (int64_t c = 0; c < chunks; ++c) {
    tw += ws_w[c * cols + col];
    tb += ws_b[c * cols + col];
  }
  if (dw) dw[col] = from_f32<T>(tw);
  if (db) db[col] = from_f32<T>(tb);
}

void check_rows(int64_t rows, const char* who) {
  IQA_CHECK(rows <= 2147483647LL, who, ": ", rows, " rows exceed the grid limit");
}

// One entry for both forwards: residual/sum null for the plain LayerNorm.
void forward_impl(const char* who, DType dtype, const void* x, const void* residual, void* sum, const void* weight,
                  const void* bias, void* y, float* mean, float* rstd, int64_t rows, int64_t cols, double eps,
                  cudaStream_t stream) {
  if (rows == 0) return;
  IQA_CHECK(cols > 0, who, ": zero columns");
  check_rows(rows, who);
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    const T* xp = static_cast<const T*>(x);
    const T* rp = static_cast<const T*>(residual);
    T* sp = static_cast<T*>(sum);
    const T* wp = static_cast<const T*>(weight);
    const T* bp = static_cast<const T*>(bias);
    T* yp = static_cast<T*>(y);
    if (cols <= kWarpMaxCols) {
      bool vec = cols % vec_width<T>() == 0 && aligned16(x) && aligned16(y) && aligned16(weight) &&
                 aligned16(bias) && aligned16(residual) && aligned16(sum);
      unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
      dispatch_warp<T>(cols, vec, "layer_norm", [&](auto vec_c, auto iters_c) {
        ln_warp_forward<T, decltype(vec_c)::value, decltype(iters_c)::value>
            <<<grid, kWarpsPerBlock * kWarp, 0, stream>>>(xp, rp, sp, wp, bp, yp, mean, rstd, rows, cols, float(eps));
      });
    } else {
      ln_block_forward<T>
          <<<unsigned(rows), kBlockThreads, 0, stream>>>(xp, rp, sp, wp, bp, yp, mean, rstd, cols, float(eps));
    }
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void backward_impl(DType dtype, const void* x, const void* weight, const float* mean, const float* rstd,
                   const void* grad_y, const void* grad_sum, void* grad_x, void* grad_weight, void* grad_bias,
                   int64_t rows, int64_t cols, float* workspace, cudaStream_t stream) {
  if (rows == 0) return;
  IQA_CHECK(cols > 0, "cuda::layer_norm_backward: zero columns");
  check_rows(rows, "cuda::layer_norm_backward");
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    const T* xp = static_cast<const T*>(x);
    const T* wp = static_cast<const T*>(weight);
    const T* gp = static_cast<const T*>(grad_y);
    const T* gsp = static_cast<const T*>(grad_sum);
    T* dxp = static_cast<T*>(grad_x);
    if (cols <= kWarpMaxCols) {
      bool vec = cols % vec_width<T>() == 0 && aligned16(x) && aligned16(weight) && aligned16(grad_y) &&
                 aligned16(grad_x) && aligned16(grad_sum);
      unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
      dispatch_warp<T>(cols, vec, "layer_norm", [&](auto vec_c, auto iters_c) {
        ln_warp_backward_dx<T, decltype(vec_c)::value, decltype(iters_c)::value>
            <<<grid, kWarpsPerBlock * kWarp, 0, stream>>>(xp, wp, mean, rstd, gp, gsp, dxp, rows, cols);
      });
    } else {
      ln_block_backward_dx<T><<<unsigned(rows), kBlockThreads, 0, stream>>>(xp, wp, mean, rstd, gp, gsp, dxp, cols);
    }
    IQA_CUDA_CHECK_LAUNCH();
    if (grad_weight || grad_bias) {
      IQA_CHECK(workspace != nullptr, "cuda::layer_norm_backward: parameter gradients need a workspace");
      const int64_t chunks = row_chunks(rows), per_chunk = (rows + chunks - 1) / chunks;
      float* ws_w = workspace;
      float* ws_b = workspace + chunks * cols;
      dim3 grid1(unsigned((cols + kColTile - 1) / kColTile), unsigned(chunks));
      ln_param_grad_partial<T><<<grid1, dim3(kColTile, kRowLanes), 0, stream>>>(xp, mean, rstd, gp, ws_w, ws_b, rows,
                                                                              cols, per_chunk);
      IQA_CUDA_CHECK_LAUNCH();
      ln_param_grad_final<T><<<unsigned((cols + 255) / 256), 256, 0, stream>>>(
          ws_w, ws_b, static_cast<T*>(grad_weight), static_cast<T*>(grad_bias), chunks, cols);
      IQA_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace

int64_t layer_norm_backward_workspace_floats(int64_t rows, int64_t cols) { return 2 * row_chunks(rows) * cols; }

void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols, double eps, cudaStream_t stream) {
  forward_impl("cuda::layer_norm_forward", dtype, x, nullptr, nullptr, weight, bias, y, mean, rstd, rows, cols, eps,
               stream);
}

void add_layer_norm_forward(DType dtype, const void* x, const void* residual, const void* weight, const void* bias,
                            void* sum, void* y, float* mean, float* rstd, int64_t rows, int64_t cols, double eps,
                            cudaStream_t stream) {
  IQA_CHECK(residual != nullptr && sum != nullptr, "cuda::add_layer_norm_forward: residual and sum are required");
  forward_impl("cuda::add_layer_norm_forward", dtype, x, residual, sum, weight, bias, y, mean, rstd, rows, cols, eps,
               stream);
}

void layer_norm_backward(DType dtype, const void* x, const void* weight, const float* mean, const float* rstd,
                         const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias, int64_t rows,
                         int64_t cols, float* workspace, cudaStream_t stream) {
  backward_impl(dtype, x, weight, mean, rstd, grad_y, nullptr, grad_x, grad_weight, grad_bias, rows, cols, workspace,
                stream);
}

void add_layer_norm_backward(DType dtype, const void* sum, const void* weight, const float* mean, const float* rstd,
                             const void* grad_y, const void* grad_sum, void* grad_x, void* grad_weight,
                             void* grad_bias, int64_t rows, int64_t cols, float* workspace, cudaStream_t stream) {
  backward_impl(dtype, sum, weight, mean, rstd, grad_y, grad_sum, grad_x, grad_weight, grad_bias, rows, cols,
                workspace, stream);
}

}  // namespace iqa::kernels::cuda
