// scaled_dot_product_attention: the fused kernels (kernels/attention.h) where they apply, the
// unfused matmul + softmax composite everywhere else. The fused op records one backward node that
// runs the fused backward from the saved output and logsumexp. Causal masking is the kernels'
// (kernels/attention.h: top-left aligned, query i sees keys j <= i); the composite adds the same mask
// as -inf scores.
#include <cmath>
#include <limits>
#include <string>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/attention.h"

namespace iqa {

namespace {

void check_attention_shapes(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  check_same_device(op, {q, k, v});
  IQA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op, ": q, k, v must be [B, H, S, D], got ", q.str(), ", ",
            k.str(), ", ", v.str());
  const Shape& qs = q.shape();
  const Shape& ks = k.shape();
  const Shape& vs = v.shape();
  IQA_CHECK(qs[0] == ks[0] && qs[1] == ks[1] && ks[0] == vs[0] && ks[1] == vs[1] && qs[3] == ks[3] && ks[2] == vs[2], op,
            ": shapes do not match: q ", q.str(), ", k ", k.str(), ", v ", v.str());
}

double default_scale(const Tensor& q, std::optional<double> scale) {
  return scale.value_or(1.0 / std::sqrt(double(q.shape()[3])));
}

// Why the fused kernels cannot take these operands, or "" when they can.
std::string fused_unsupported_reason(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype()) return "q, k, v differ in dtype";
  if (v.shape()[3] != q.shape()[3]) return "v's head dim differs from q's";
  if (q.shape()[0] * q.shape()[1] == 0 || q.shape()[2] == 0 || k.shape()[2] == 0 || q.shape()[3] == 0)
    return "empty operand";
  if (q.device().is_cpu())
    return q.dtype() == DType::F32 || q.dtype() == DType::F64 ? "" : "the CPU kernel takes f32/f64";
  if (!kernels::cuda::attention_supported(q.dtype(), q.shape()[3]))
    return "the CUDA kernel takes bf16/f16 with head dim 32, 64 or 128";
  if (!(scale > 0)) return "the CUDA kernel needs a positive scale";
  return "";
}

// A tensor as a kernel operand: its data, shape and strides; writable unless Ptr is const void*.
template <int Rank, class Ptr = void*>
kernels::BasicOperand<Ptr, Rank> operand(const Tensor& t) {
  IQA_CHECK(t.dim() == Rank, "attention operand ", t.str(), " must have ", Rank, " dims");
  kernels::BasicOperand<Ptr, Rank> op;
  op.data = t.raw_data();
  for (int d = 0; d < Rank; ++d) op.shape[d] = t.shape()[d], op.strides[d] = t.strides()[d];
  return op;
}
template <int Rank>
kernels::InOperand<Rank> in_operand(const Tensor& t) {
  return operand<Rank, const void*>(t);
}

// A [B, H, S, D] operand as the kernels read it: the view itself when its last dim is contiguous (and,
// on CUDA, it is 16-byte aligned in pointer and strides), else a contiguous copy.
Tensor kernel_operand(const Tensor& x) {
  Tensor t = x.detach();
  bool in_place = t.strides()[3] == 1 || t.shape()[3] == 1;
  if (in_place && t.is_cuda()) in_place = kernels::cuda::attention_operand_aligned(in_operand<4>(t));
  return in_place ? t : t.contiguous();
}

// [Sq, Skv]: 0 where query i sees key j (j <= i), -inf elsewhere; in `like`'s dtype and device.
Tensor causal_mask(int64_t sq, int64_t skv, const Tensor& like) {
  std::vector<float> m(size_t(sq * skv), 0.f);
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = i + 1; j < skv; ++j) m[size_t(i * skv + j)] = -std::numeric_limits<float>::infinity();
  return Tensor::from_vector(m, {sq, skv}).to(like.device(), like.dtype());
}

}  // namespace

Tensor scaled_dot_product_attention_unfused(const Tensor& q, const Tensor& k, const Tensor& v,
                                            std::optional<double> scale, bool causal) {
  check_attention_shapes("scaled_dot_product_attention_unfused", q, k, v);
  const double s = default_scale(q, scale);
  // Scaling q (S x D) is cheaper than scaling the S x S scores whenever D < S.
  Tensor scores = matmul(mul(q, s), k.transpose(-2, -1));
  if (causal) scores = add(scores, causal_mask(q.shape()[2], k.shape()[2], scores));
  return matmul(softmax(scores, -1), v);
}

AttentionForwardResult scaled_dot_product_attention_fused_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                                  std::optional<double> scale, bool causal) {
  const char* op = "scaled_dot_product_attention_fused_forward";
  check_attention_shapes(op, q, k, v);
  const double s = default_scale(q, scale);
  const std::string why = fused_unsupported_reason(q, k, v, s);
  IQA_CHECK(why.empty(), op, ": ", why, " (q ", q.str(), ", k ", k.str(), ", v ", v.str(), ")");
  const int64_t B = q.shape()[0], H = q.shape()[1], Sq = q.shape()[2], D = q.shape()[3];
  Tensor qo = kernel_operand(q), ko = kernel_operand(k), vo = kernel_operand(v);
  // Stored [B, Sq, H, D]: the output projection then reads rows of H * D without a permute copy.
  Tensor out = Tensor::empty({B, Sq, H, D}, q.dtype(), q.device()).permute({0, 2, 1, 3});
  const DType lse_dtype = q.device().is_cpu() ? q.dtype() : DType::F32;  // f64 data keeps f64 statistics
  Tensor lse = Tensor::empty({B, H, Sq}, lse_dtype, q.device());
  const kernels::AttentionForwardArgs args{.dtype = q.dtype(),
                                           .scale = s,
                                           .causal = causal,
                                           .q = in_operand<4>(qo),
                                           .k = in_operand<4>(ko),
                                           .v = in_operand<4>(vo),
                                           .out = operand<4>(out),
                                           .logsumexp = operand<3>(lse)};
  if (q.device().is_cpu()) {
    // f32: the GEMM path (training speed); f64: the row-by-row reference (exact gradient checks).
    if (q.dtype() == DType::F32) kernels::cpu::attention_forward_gemm(args);
    else kernels::cpu::attention_forward(args);
  } else {
    IQA_ON_CUDA(kernels::cuda::attention_forward(args, cuda::current_stream()));
  }
  return {out, lse};
}

AttentionGrads scaled_dot_product_attention_fused_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                           const Tensor& out, const Tensor& logsumexp,
                                                           const Tensor& grad_out, std::optional<double> scale,
                                                           bool causal) {
  const char* op = "scaled_dot_product_attention_fused_backward";
  check_attention_shapes(op, q, k, v);
  check_same_device(op, {q, out, logsumexp, grad_out});
  const double s = default_scale(q, scale);
  const std::string why = fused_unsupported_reason(q, k, v, s);
  IQA_CHECK(why.empty(), op, ": ", why, " (q ", q.str(), ", k ", k.str(), ", v ", v.str(), ")");
  const int64_t B = q.shape()[0], H = q.shape()[1], Sq = q.shape()[2], Skv = k.shape()[2], D = q.shape()[3];
  IQA_CHECK(out.shape() == q.shape() && grad_out.shape() == q.shape() && out.dtype() == q.dtype() &&
                grad_out.dtype() == q.dtype(),
            op, ": out ", out.str(), " and grad_out ", grad_out.str(), " must match q ", q.str());
  const DType lse_dtype = q.device().is_cpu() ? q.dtype() : DType::F32;
  IQA_CHECK(logsumexp.shape() == Shape({B, H, Sq}) && logsumexp.dtype() == lse_dtype, op, ": logsumexp ",
            logsumexp.str(), " must be [", B, ", ", H, ", ", Sq, "] ", dtype_name(lse_dtype));
  Tensor qo = kernel_operand(q), ko = kernel_operand(k), vo = kernel_operand(v);
  Tensor oo = kernel_operand(out), go = kernel_operand(grad_out), lse = logsumexp.detach().contiguous();
  AttentionGrads grads{Tensor::empty({B, H, Sq, D}, q.dtype(), q.device()),
                       Tensor::empty({B, H, Skv, D}, q.dtype(), q.device()),
                       Tensor::empty({B, H, Skv, D}, q.dtype(), q.device())};
  const kernels::AttentionBackwardArgs args{.dtype = q.dtype(),
                                            .scale = s,
                                            .causal = causal,
                                            .q = in_operand<4>(qo),
                                            .k = in_operand<4>(ko),
                                            .v = in_operand<4>(vo),
                                            .out = in_operand<4>(oo),
                                            .grad_out = in_operand<4>(go),
                                            .logsumexp = in_operand<3>(lse),
                                            .dq = operand<4>(grads.dq),
                                            .dk = operand<4>(grads.dk),
                                            .dv = operand<4>(grads.dv)};
  if (q.device().is_cpu()) {
    if (q.dtype() == DType::F32) kernels::cpu::attention_backward_gemm(args);
    else kernels::cpu::attention_backward(args);
    return grads;
  }
  IQA_ON_CUDA({
    const kernels::AttentionShape shape = kernels::attention_shape(args, op);
    Tensor workspace =
        Tensor::empty({kernels::cuda::attention_backward_workspace_floats(shape)}, DType::F32, q.device());
    kernels::cuda::attention_backward(args, workspace.data<float>(), cuda::current_stream());
  });
  return grads;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale,
                                    bool causal) {
  if (amp::autocast_active())  // the autocast table (engine/amp.cpp): lowered
    return amp::dispatch1(amp::Op::Attention, {q, k, v}, [scale, causal](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], scale, causal);
    });
  check_attention_shapes("scaled_dot_product_attention", q, k, v);
  const double s = default_scale(q, scale);
  if (!fused_unsupported_reason(q, k, v, s).empty()) return scaled_dot_product_attention_unfused(q, k, v, s, causal);
  AttentionForwardResult fwd = scaled_dot_product_attention_fused_forward(q, k, v, s, causal);
  Tensor out = fwd.out;
  Tensor qd = q.detach(), kd = k.detach(), vd = v.detach(), od = out.detach(), lse = fwd.logsumexp;
  record("scaled_dot_product_attention", out, {q, k, v}, [qd, kd, vd, od, lse, s, causal](const Tensor& g) {
    AttentionGrads grads = scaled_dot_product_attention_fused_backward(qd, kd, vd, od, lse, g, s, causal);
    return std::vector<Tensor>{grads.dq, grads.dk, grads.dv};
  });
  return out;
}

}  // namespace iqa
