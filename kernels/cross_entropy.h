// Soft-target cross-entropy fused with its softmax: loss = mean_n( -sum_c t[n,c] log_softmax(x)[n,c] ).
// Per row, with lse = log sum_c exp(x) and tsum = sum_c t:
//   loss_n = lse * tsum - sum_c t x  (computed as log(sum exp(x - max)) * tsum - sum t (x - max): no
//   cancellation between two large numbers),
//   dL/dx = g / N * (softmax(x) * tsum - t),   dL/dt = g / N * (lse - x).
// tsum is usually 1 (probabilities), but the formulas keep the composite's meaning for any target.
// The forward saves lse and tsum per row, so the backward is one pass over x and t.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

namespace cpu {
// logits, target: [rows, cols] contiguous in `dtype` (f32/f64); loss: one element of `dtype`;
// lse, tsum: [rows] of the statistics dtype (f64 for f64 data, f32 otherwise).
void soft_cross_entropy_forward(DType dtype, const void* logits, const void* target, void* loss, void* lse,
                                void* tsum, int64_t rows, int64_t cols);
// grad_loss: one element of `dtype`; grad_logits / grad_target ([rows, cols]) written when non-null.
void soft_cross_entropy_backward(DType dtype, const void* logits, const void* target, const void* lse,
                                 const void* tsum, const void* grad_loss, void* grad_logits, void* grad_target,
                                 int64_t rows, int64_t cols);
}  // namespace cpu

namespace cuda {
// f32/bf16/f16 data, f32 statistics. One warp per row writes lse, tsum and the row's loss into
// row_loss (a [rows] f32 workspace); one small block then averages the rows in a fixed order into
// `loss` (one element of `dtype`, device memory).
void soft_cross_entropy_forward(DType dtype, const void* logits, const void* target, void* loss, float* lse,
                                float* tsum, float* row_loss, int64_t rows, int64_t cols, cudaStream_t stream);
// grad_loss is read on the device (no host sync).
void soft_cross_entropy_backward(DType dtype, const void* logits, const void* target, const float* lse,
                                 const float* tsum, const void* grad_loss, void* grad_logits, void* grad_target,
                                 int64_t rows, int64_t cols, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
