// The fused attention at ViT-B/16's shape (12 heads of 64, 197 tokens), batch 256 (--small: 4).
//
// FLOPs counted are the matrix products at their nominal size (the softmax is not counted, and the
// tiles that run past 197 rows are not credited): the forward's S = Q K^T and O = P V are
// 2 x 2*S*S*D per head, 4*B*H*S^2*D in all; the backward recomputes S and does dV, dP, dS K and
// dS^T Q, five products, 10*B*H*S^2*D, i.e. 2.5x the forward, which is how FlashAttention's own
// benchmarks count it. attention_fwd_bwd therefore counts 3.5x the forward.
//
// Targets on an H100 at B=256, H=12, S=197, D=64, bf16 (issue 3): cuDNN SDPA 207 us forward and
// 860 us forward+backward; PyTorch's FlashAttention-2 272 us and 1412 us. bench/torch_peer.py times
// both in the same run ("torch-flash" and "torch-cudnn" rows).
#include "bench/bench_ops.h"
#include "engine/ops.h"

namespace iqa::bench {

namespace {

BenchCase make_attention_case(bool with_backward, Device device, DType dtype, bool small) {
  const int64_t B = small ? 4 : 256, H = 12, S = 197, D = 64;
  Tensor q = Tensor::randn({B, H, S, D}, dtype, device), k = Tensor::randn({B, H, S, D}, dtype, device);
  Tensor v = Tensor::randn({B, H, S, D}, dtype, device), grad_out = Tensor::randn({B, H, S, D}, dtype, device);
  BenchCase c;
  c.shape = std::to_string(B) + "x" + std::to_string(H) + "x" + std::to_string(S) + "x" + std::to_string(D);
  const double forward_flops = 4.0 * double(B) * double(H) * double(S) * double(S) * double(D);
  // The fused halves are called directly (iqa-bench runs without autograd): the fused kernels are what
  // is timed, and a dtype they do not take fails loudly instead of timing the unfused fallback.
  if (!with_backward) {
    c.flops = forward_flops;
    c.run = [q, k, v] { scaled_dot_product_attention_fused_forward(q, k, v); };
  } else {
    c.flops = 3.5 * forward_flops;
    c.run = [q, k, v, grad_out] {
      AttentionForwardResult fwd = scaled_dot_product_attention_fused_forward(q, k, v);
      scaled_dot_product_attention_fused_backward(q, k, v, fwd.out, fwd.logsumexp, grad_out);
    };
  }
  return c;
}

const BenchRegistrar reg_fwd("attention_fwd", [](Device device, DType dtype, bool small) {
  return make_attention_case(false, device, dtype, small);
});
const BenchRegistrar reg_fwd_bwd("attention_fwd_bwd", [](Device device, DType dtype, bool small) {
  return make_attention_case(true, device, dtype, small);
});

}  // namespace

}  // namespace iqa::bench
