// LayerNorm over the last dim of a contiguous [rows, cols] buffer. The forward saves per-row mean and
// rstd = 1/sqrt(var + eps) (biased variance) for the backward. Statistics are f32, except f64 data on
// the CPU keeps f64 statistics so gradient checks stay exact.
//
// add_layer_norm is a residual add fused with the LayerNorm that follows it (a transformer block's
// h = x + attn(...) then ln_2(h)): one pass reads x and residual and writes both the sum (rounded to the
// data type, the next residual) and the normalised sum. Its backward is layer_norm_backward on the sum
// with an optional grad_sum added to dx in the same pass: the gradient that reaches the sum from its
// other consumers, so dx (for x and residual alike) is complete after one kernel.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

namespace cpu {
// weight/bias: [cols] in `dtype`, or null (identity / zero). mean, rstd: [rows] of the statistics dtype.
void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, void* mean,
                        void* rstd, int64_t rows, int64_t cols, double eps);
// grad_x always written; grad_weight / grad_bias ([cols], `dtype`) only when non-null.
void layer_norm_backward(DType dtype, const void* x, const void* weight, const void* mean, const void* rstd,
                         const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias, int64_t rows,
                         int64_t cols);
// sum = x + residual (in the data type), y = LayerNorm(sum); mean/rstd as layer_norm_forward.
void add_layer_norm_forward(DType dtype, const void* x, const void* residual, const void* weight, const void* bias,
                            void* sum, void* y, void* mean, void* rstd, int64_t rows, int64_t cols, double eps);
// grad_x = LayerNorm backward at `sum` + grad_sum (grad_sum may be null); weight/bias grads as above.
void add_layer_norm_backward(DType dtype, const void* sum, const void* weight, const void* mean, const void* rstd,
                             const void* grad_y, const void* grad_sum, void* grad_x, void* grad_weight,
                             void* grad_bias, int64_t rows, int64_t cols);
}  // namespace cpu

namespace cuda {
// f32/bf16/f16 data, f32 mean/rstd.
void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols, double eps, cudaStream_t stream);
// Floats of device scratch the backward needs (partial column sums for dweight/dbias).
int64_t layer_norm_backward_workspace_floats(int64_t rows, int64_t cols);
void layer_norm_backward(DType dtype, const void* x, const void* weight, const float* mean, const float* rstd,
                         const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias, int64_t rows,
                         int64_t cols, float* workspace, cudaStream_t stream);
void add_layer_norm_forward(DType dtype, const void* x, const void* residual, const void* weight, const void* bias,
                            void* sum, void* y, float* mean, float* rstd, int64_t rows, int64_t cols, double eps,
                            cudaStream_t stream);
// Workspace as layer_norm_backward_workspace_floats.
void add_layer_norm_backward(DType dtype, const void* sum, const void* weight, const float* mean, const float* rstd,
                             const void* grad_y, const void* grad_sum, void* grad_x, void* grad_weight,
                             void* grad_bias, int64_t rows, int64_t cols, float* workspace, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
