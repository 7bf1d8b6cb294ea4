// QuickGELU after a linear layer (CLIP's MLP: c_fc -> x * sigmoid(1.702 x)), with the bias fused.
//
// The GEMM adds the bias in its epilogue (kernels/gemm.h, GemmEpilogue::Bias), so the pre-activation is
// rounded once, exactly as PyTorch's addmm and the unfused linear do; a separate bias pass would round
// twice in bf16 and move the [rows, cols] slab one more time. What remains elementwise:
//   forward:  y = pre * sigmoid(1.702 pre), one pass; `pre` is what the backward keeps.
//   backward: grad_pre = grad_y * QuickGELU'(pre) and grad_bias = column sums of grad_pre, in one pass
//             that also writes per-block partial column sums; a second small kernel adds the partials in
//             a fixed order (deterministic, no atomics).
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

namespace cpu {
// n contiguous elements, f32/f64, computed in the data type (the same formula as UnaryOp::QuickGelu).
void quick_gelu_forward(DType dtype, const void* pre, void* y, int64_t n);
// pre, grad_y, grad_pre: [rows, cols] contiguous; grad_bias: [cols] or null.
void quick_gelu_backward_bias(DType dtype, const void* pre, const void* grad_y, void* grad_pre, void* grad_bias,
                              int64_t rows, int64_t cols);
}  // namespace cpu

namespace cuda {
// f32/bf16/f16, computed in f32.
void quick_gelu_forward(DType dtype, const void* pre, void* y, int64_t n, cudaStream_t stream);
// Floats of device scratch quick_gelu_backward_bias needs when grad_bias is wanted.
int64_t quick_gelu_backward_bias_workspace_floats(int64_t rows, int64_t cols);
void quick_gelu_backward_bias(DType dtype, const void* pre, const void* grad_y, void* grad_pre, void* grad_bias,
                              int64_t rows, int64_t cols, float* workspace, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
