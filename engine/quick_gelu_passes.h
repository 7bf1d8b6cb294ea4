// The two elementwise passes linear_quick_gelu runs around its GEMM (kernels/linear_quick_gelu.h), on
// the tensors' device: y = QuickGELU(pre), and the one-pass backward giving d(pre) with the bias
// gradient (the column sums of d(pre)). No autograd here: linear_quick_gelu records its own node, and
// iqa-bench's bias_quick_gelu times these two passes without the GEMMs around them.
#pragma once
#include "engine/tensor.h"

namespace iqa {

// pre and y: the same shape and dtype, contiguous.
void quick_gelu_pass(const Tensor& pre, const Tensor& y);
// pre, grad_y and grad_pre: [rows, cols] contiguous, one dtype; grad_bias [cols], or undefined when the
// bias gradient is not wanted.
void quick_gelu_backward_pass(const Tensor& pre, const Tensor& grad_y, const Tensor& grad_pre, const Tensor& grad_bias);

}  // namespace iqa
