#include "engine/quick_gelu_passes.h"

#include "engine/dispatch.h"
#include "kernels/linear_quick_gelu.h"

namespace iqa {

void quick_gelu_pass(const Tensor& pre, const Tensor& y) {
  IQA_CHECK(pre.shape() == y.shape() && pre.dtype() == y.dtype() && pre.is_contiguous() && y.is_contiguous(),
            "quick_gelu_pass: pre ", pre.str(), " and y ", y.str(), " must be contiguous, of one shape and dtype");
  if (pre.numel() == 0) return;
  if (pre.device().is_cpu()) kernels::cpu::quick_gelu_forward(pre.dtype(), pre.raw_data(), y.raw_data(), pre.numel());
  else IQA_ON_CUDA(kernels::cuda::quick_gelu_forward(pre.dtype(), pre.raw_data(), y.raw_data(), pre.numel(),
                                                    cuda::current_stream()));
}

void quick_gelu_backward_pass(const Tensor& pre, const Tensor& grad_y, const Tensor& grad_pre, const Tensor& grad_bias) {
  IQA_CHECK(pre.dim() == 2 && grad_y.shape() == pre.shape() && grad_pre.shape() == pre.shape() &&
                grad_y.dtype() == pre.dtype() && grad_pre.dtype() == pre.dtype(),
            "quick_gelu_backward_pass: pre ", pre.str(), ", grad_y ", grad_y.str(), " and grad_pre ", grad_pre.str(),
            " must be [rows, cols] of one dtype");
  const bool want_b = grad_bias.defined();
  const int64_t rows = pre.shape()[0], cols = pre.shape()[1];
  if (pre.numel() == 0) {
    if (want_b) Tensor(grad_bias).zero_();  // a handle: the copy zeroes the same storage
    return;
  }
  void* dbp = want_b ? grad_bias.raw_data() : nullptr;
  if (pre.device().is_cpu()) {
    kernels::cpu::quick_gelu_backward_bias(pre.dtype(), pre.raw_data(), grad_y.raw_data(), grad_pre.raw_data(), dbp,
                                           rows, cols);
    return;
  }
  IQA_ON_CUDA({
    Tensor ws = want_b ? Tensor::empty({kernels::cuda::quick_gelu_backward_bias_workspace_floats(rows, cols)},
                                       DType::F32, pre.device())
                       : Tensor();
    kernels::cuda::quick_gelu_backward_bias(pre.dtype(), pre.raw_data(), grad_y.raw_data(), grad_pre.raw_data(), dbp,
                                            rows, cols, want_b ? ws.data<float>() : nullptr, cuda::current_stream());
  });
}

}  // namespace iqa
