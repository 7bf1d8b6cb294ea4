// Batch normalisation over (n, h, w) per channel of a contiguous NCHW buffer, split into small
// per-channel steps the engine composes for training and eval mode.
//
// "stat" buffers (mean, invstd, the backward sums) have c elements of the stat dtype: the input dtype
// on the CPU (f32/f64), always f32 on CUDA. Weight/bias (either may be nullptr: 1 and 0) and the
// running statistics carry their own dtypes, so bf16 activations can use f32 parameters and buffers.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

struct BatchNormGeometry {
  int64_t n = 0, c = 0, hw = 0;
  IQA_HD int64_t count() const { return n * hw; }  // elements per channel
};

namespace cpu {
// Batch mean and invstd = 1/sqrt(biased var + eps). When running_mean/var are non-null, updates them in
// place: r = (1 - momentum) r + momentum * stat, with the unbiased variance for r_var.
void batch_norm_train_stats(DType dtype, const BatchNormGeometry& g, const void* x, double eps, double momentum,
                            void* running_mean, void* running_var, DType running_dtype, void* mean, void* invstd);
// mean = running_mean, invstd = 1/sqrt(running_var + eps).
void batch_norm_eval_stats(const BatchNormGeometry& g, const void* running_mean, const void* running_var,
                           DType running_dtype, double eps, DType stat_dtype, void* mean, void* invstd);
// y = (x - mean) * invstd * weight + bias.
void batch_norm_apply(DType dtype, const BatchNormGeometry& g, const void* x, const void* mean, const void* invstd,
                      const void* weight, const void* bias, DType param_dtype, void* y);
// sum_dy[c] = sum dy; sum_dy_xhat[c] = sum dy * (x - mean) * invstd (the weight's gradient).
void batch_norm_backward_reduce(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                                const void* mean, const void* invstd, void* sum_dy, void* sum_dy_xhat);
// training: dx = w invstd (dy - sum_dy/M - xhat sum_dy_xhat/M), M = n*h*w; eval: dx = w invstd dy.
void batch_norm_backward_input(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                               const void* mean, const void* invstd, const void* weight, DType param_dtype,
                               const void* sum_dy, const void* sum_dy_xhat, bool training, void* dx);
}  // namespace cpu

namespace cuda {
// Same contracts; x/y/dy/dx are f32, bf16 or f16 and every stat buffer is f32.
void batch_norm_train_stats(DType dtype, const BatchNormGeometry& g, const void* x, double eps, double momentum,
                            void* running_mean, void* running_var, DType running_dtype, float* mean, float* invstd,
                            cudaStream_t stream);
void batch_norm_eval_stats(const BatchNormGeometry& g, const void* running_mean, const void* running_var,
                           DType running_dtype, double eps, float* mean, float* invstd, cudaStream_t stream);
void batch_norm_apply(DType dtype, const BatchNormGeometry& g, const void* x, const float* mean, const float* invstd,
                      const void* weight, const void* bias, DType param_dtype, void* y, cudaStream_t stream);
void batch_norm_backward_reduce(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                                const float* mean, const float* invstd, float* sum_dy, float* sum_dy_xhat,
                                cudaStream_t stream);
void batch_norm_backward_input(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                               const float* mean, const float* invstd, const void* weight, DType param_dtype,
                               const float* sum_dy, const float* sum_dy_xhat, bool training, void* dx,
                               cudaStream_t stream);
}  // namespace cuda

// ---- channels-last (NHWC) -------------------------------------------------------------------------
// An NHWC buffer [N, H, W, C] is the geometry {n = N*H*W, c = C, hw = 1}: every function above is
// already correct for it (the CPU ones are its reference), and the CUDA apply / backward_input are
// coalesced there (consecutive threads, consecutive channels). Only the per-channel reductions need
// another shape on the GPU: one block per channel would read with stride C. The NHWC versions below
// split the rows into `nhwc_row_chunks(rows)` chunks, reduce each chunk for 32 channels per block into
// a partials buffer, then sum the chunks per channel in a fixed order (deterministic, no atomics).
inline BatchNormGeometry batch_norm_nhwc_geometry(int64_t rows, int64_t channels) {
  BatchNormGeometry g;
  g.n = rows, g.c = channels, g.hw = 1;
  return g;
}
// Row chunks of the NHWC reductions: about 256 rows each, at most 1024 (enough blocks to fill an H100
// at ResNet-50's small-channel stages; the large-channel stages have many channel tiles anyway).
inline int64_t batch_norm_nhwc_row_chunks(int64_t rows) {
  int64_t chunks = (rows + 255) / 256;
  return chunks < 1 ? 1 : chunks > 1024 ? 1024 : chunks;
}
// f32 elements the `partials` buffer of the NHWC reductions needs.
inline int64_t batch_norm_nhwc_partials_size(const BatchNormGeometry& g) {
  return 2 * batch_norm_nhwc_row_chunks(g.n) * g.c;
}

namespace cuda {
// Same contracts as batch_norm_train_stats / batch_norm_backward_reduce for g = batch_norm_nhwc_geometry();
// partials: f32 scratch of batch_norm_nhwc_partials_size(g) elements.
void batch_norm_nhwc_train_stats(DType dtype, const BatchNormGeometry& g, const void* x, double eps, double momentum,
                                 void* running_mean, void* running_var, DType running_dtype, float* mean,
                                 float* invstd, float* partials, cudaStream_t stream);
void batch_norm_nhwc_backward_reduce(DType dtype, const BatchNormGeometry& g, const void* dy, const void* x,
                                     const float* mean, const float* invstd, float* sum_dy, float* sum_dy_xhat,
                                     float* partials, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
