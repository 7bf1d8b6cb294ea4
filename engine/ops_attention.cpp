// scaled_dot_product_attention: the fused kernels (kernels/attention.h) where they apply, the
// unfused matmul + softmax composite everywhere else. The fused op records one backward node that
// runs the fused backward from the saved output and logsumexp.
#include <cmath>
#include <string>

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

kernels::AttentionStrides strides_of(const Tensor& t) { return {t.strides()[0], t.strides()[1], t.strides()[2]}; }

// A [B, H, S, D] operand as the kernels read it: the view itself when its last dim is contiguous (and,
// on CUDA, it is 16-byte aligned in pointer and strides), else a contiguous copy.
Tensor kernel_operand(const Tensor& x) {
  Tensor t = x.detach();
  bool in_place = t.strides()[3] == 1 || t.shape()[3] == 1;
  if (in_place && t.is_cuda()) in_place = kernels::cuda::attention_operand_aligned(t.raw_data(), strides_of(t));
  return in_place ? t : t.contiguous();
}

kernels::AttentionShape attention_shape(const Tensor& q, const Tensor& k, double scale) {
  return {q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2], q.shape()[3], scale};
}

}  // namespace

Tensor scaled_dot_product_attention_unfused(const Tensor& q, const Tensor& k, const Tensor& v,
                                            std::optional<double> scale) {
  check_attention_shapes("scaled_dot_product_attention_unfused", q, k, v);
  const double s = default_scale(q, scale);
  // Scaling q (S x D) is cheaper than scaling the S x S scores whenever D < S.
  Tensor scores = matmul(mul(q, s), k.transpose(-2, -1));
  return matmul(softmax(scores, -1), v);
}

AttentionForwardResult scaled_dot_product_attention_fused_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                                  std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention_fused_forward";
  check_attention_shapes(op, q, k, v);
  const double s = default_scale(q, scale);
  const std::string why = fused_unsupported_reason(q, k, v, s);
  IQA_CHECK(why.empty(), op, ": ", why, " (q ", q.str(), ", k ", k.str(), ", v ", v.str(), ")");
  const int64_t B = q.shape()[0], H = q.shape()[1], Sq = q.shape()[2], D = q.shape()[3];
  Tensor qo = kernel_operand(q), ko = kernel_operand(k), vo = kernel_operand(v);
  // Stored [B, Sq, H, D]: the output projection then reads rows of H * D without a permute copy.
  Tensor out = Tensor::empty({B, Sq, H, D}, q.dtype(), q.device()).permute({0, 2, 1, 3});
  const kernels::AttentionShape shape = attention_shape(q, k, s);
  if (q.device().is_cpu()) {
    Tensor lse = Tensor::empty({B, H, Sq}, q.dtype(), q.device());
    // f32: the GEMM path (training speed); f64: the row-by-row reference (exact gradient checks).
    const auto forward = q.dtype() == DType::F32 ? kernels::cpu::attention_forward_gemm : kernels::cpu::attention_forward;
    forward(q.dtype(), shape, qo.raw_data(), strides_of(qo), ko.raw_data(), strides_of(ko), vo.raw_data(),
            strides_of(vo), out.raw_data(), strides_of(out), lse.raw_data());
    return {out, lse};
  }
  Tensor lse = Tensor::empty({B, H, Sq}, DType::F32, q.device());
  IQA_ON_CUDA(kernels::cuda::attention_forward(q.dtype(), shape, qo.raw_data(), strides_of(qo), ko.raw_data(),
                                               strides_of(ko), vo.raw_data(), strides_of(vo), out.raw_data(),
                                               strides_of(out), lse.data<float>(), cuda::current_stream()));
  return {out, lse};
}

AttentionGrads scaled_dot_product_attention_fused_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                           const Tensor& out, const Tensor& logsumexp,
                                                           const Tensor& grad_out, std::optional<double> scale) {
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
  const kernels::AttentionShape shape = attention_shape(q, k, s);
  if (q.device().is_cpu()) {
    const auto backward =
        q.dtype() == DType::F32 ? kernels::cpu::attention_backward_gemm : kernels::cpu::attention_backward;
    backward(q.dtype(), shape, qo.raw_data(), strides_of(qo), ko.raw_data(), strides_of(ko), vo.raw_data(),
             strides_of(vo), oo.raw_data(), strides_of(oo), go.raw_data(), strides_of(go), lse.raw_data(),
             grads.dq.raw_data(), grads.dk.raw_data(), grads.dv.raw_data());
    return grads;
  }
  IQA_ON_CUDA({
    Tensor workspace =
        Tensor::empty({kernels::cuda::attention_backward_workspace_floats(shape)}, DType::F32, q.device());
    kernels::cuda::attention_backward(q.dtype(), shape, qo.raw_data(), strides_of(qo), ko.raw_data(), strides_of(ko),
                                      vo.raw_data(), strides_of(vo), oo.raw_data(), strides_of(oo), go.raw_data(),
                                      strides_of(go), lse.data<float>(), grads.dq.raw_data(), grads.dk.raw_data(),
                                      grads.dv.raw_data(), workspace.data<float>(), cuda::current_stream());
  });
  return grads;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale) {
  check_attention_shapes("scaled_dot_product_attention", q, k, v);
  const double s = default_scale(q, scale);
  if (!fused_unsupported_reason(q, k, v, s).empty()) return scaled_dot_product_attention_unfused(q, k, v, s);
  AttentionForwardResult fwd = scaled_dot_product_attention_fused_forward(q, k, v, s);
  Tensor out = fwd.out;
  Tensor qd = q.detach(), kd = k.detach(), vd = v.detach(), od = out.detach(), lse = fwd.logsumexp;
  record("scaled_dot_product_attention", out, {q, k, v}, [qd, kd, vd, od, lse, s](const Tensor& g) {
    AttentionGrads grads = scaled_dot_product_attention_fused_backward(qd, kd, vd, od, lse, g, s);
    return std::vector<Tensor>{grads.dq, grads.dk, grads.dv};
  });
  return out;
}

}  // namespace iqa
