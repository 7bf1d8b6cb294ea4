// Softmax and log-softmax over the last dim of a contiguous [rows, cols] buffer, forward and backward.
// Other dims are handled by the engine (transpose to last + contiguous). Statistics in f32 (f64 for
// f64 data on the CPU).
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

namespace cpu {
// y = softmax(x) or log_softmax(x) per row; f32/f64.
void softmax_forward(bool log, DType dtype, const void* x, void* y, int64_t rows, int64_t cols);
// From the forward's output y: softmax dx = y * (g - sum(g * y)); log_softmax dx = g - exp(y) * sum(g).
void softmax_backward(bool log, DType dtype, const void* y, const void* grad_y, void* grad_x, int64_t rows,
                      int64_t cols);
}  // namespace cpu

namespace cuda {
// f32/bf16/f16. One warp per row with the row in registers up to 1024 columns, a block per row above.
void softmax_forward(bool log, DType dtype, const void* x, void* y, int64_t rows, int64_t cols,
                     cudaStream_t stream);
void softmax_backward(bool log, DType dtype, const void* y, const void* grad_y, void* grad_x, int64_t rows,
                      int64_t cols, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
