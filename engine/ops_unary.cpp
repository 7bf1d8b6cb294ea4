// Unary elementwise ops (neg, exp, ..., gelu), where and cast, with their backward rules.
// The forward and the backward each run one kernel on contiguous buffers; the backward reads the
// saved input or the saved output, whichever makes the derivative cheaper (kernels/elementwise.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/elementwise.h"

namespace iqa {

namespace {

using kernels::UnaryOp;

// out = op(x) as a new contiguous tensor; no autograd.
Tensor unary_forward(UnaryOp op, const Tensor& x_contig, double p0, double p1) {
  Tensor out = Tensor::empty(x_contig.shape(), x_contig.dtype(), x_contig.device());
  if (out.numel() == 0) return out;
  if (x_contig.device().is_cpu())
    kernels::cpu::unary(op, x_contig.dtype(), x_contig.raw_data(), out.raw_data(), out.numel(), p0, p1);
  else IQA_ON_CUDA(kernels::cuda::unary(op, x_contig.dtype(), x_contig.raw_data(), out.raw_data(), out.numel(), p0, p1,
                                       cuda::current_stream()));
  return out;
}

// grad_in = g * op'(saved); saved is contiguous.
Tensor unary_grad(UnaryOp op, const Tensor& saved, const Tensor& g, double p0, double p1) {
  Tensor gc = (g.dtype() == saved.dtype() ? g : g.to(saved.dtype())).contiguous();
  Tensor gin = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
  if (gin.numel() == 0) return gin;
  if (saved.device().is_cpu())
    kernels::cpu::unary_backward(op, saved.dtype(), saved.raw_data(), gc.raw_data(), gin.raw_data(), gin.numel(), p0,
                                 p1);
  else IQA_ON_CUDA(kernels::cuda::unary_backward(op, saved.dtype(), saved.raw_data(), gc.raw_data(), gin.raw_data(),
                                                gin.numel(), p0, p1, cuda::current_stream()));
  return gin;
}

// The autocast table's entry for `op`: exp, log, pow and rsqrt in f32 (as torch.autocast), the rest
// in the input's dtype.
amp::Op autocast_op(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp: return amp::Op::Exp;
    case UnaryOp::Log: return amp::Op::Log;
    case UnaryOp::Pow: return amp::Op::Pow;
    case UnaryOp::Rsqrt: return amp::Op::Rsqrt;
    default: return amp::Op::Activation;
  }
}

Tensor unary_op(UnaryOp op, const Tensor& x, const char* name, double p0 = 0, double p1 = 0) {
  if (amp::autocast_active())
    return amp::dispatch1(autocast_op(op), {x},
                          [&](const std::vector<Tensor>& in) { return unary_op(op, in[0], name, p0, p1); });
  check_compute_dtype(name, x);
  Tensor xc = x.detach().contiguous();
  Tensor out = unary_forward(op, xc, p0, p1);
  // Saved: a detached output (never the output itself, see engine/autograd.h) or the input.
  Tensor saved = kernels::unary_backward_uses_output(op) ? out.detach() : xc;
  record(name, out, {x}, [op, saved, p0, p1](const Tensor& g) {
    return std::vector<Tensor>{unary_grad(op, saved, g, p0, p1)};
  });
  return out;
}

// Broadcast shape of several shapes (NumPy rules), naming the op on failure.
Shape broadcast_all(const std::vector<Shape>& shapes, const char* op) {
  size_t n = 0;
  for (const auto& s : shapes) n = std::max(n, s.size());
  Shape out(n, 1);
  for (const auto& s : shapes) {
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[n - s.size() + i];
      int64_t d = s[i];
      if (d == o || d == 1) continue;
      IQA_CHECK(o == 1, op, ": shapes do not broadcast (size ", d, " against ", o, " at dim ",
                int64_t(n - s.size() + i), ")");
      o = d;
    }
  }
  return out;
}

// Coalesced layout of cond/a/b expanded to `shape`: adjacent dims merge where all three stay linear.
kernels::WhereLayout where_layout(const Shape& shape, const Tensor& c, const Tensor& a, const Tensor& b) {
  kernels::WhereLayout l;
  std::vector<int64_t> sh, sc, sa, sb;
  for (int d = 0; d < int(shape.size()); ++d) {
    if (shape[d] == 1) continue;
    int64_t n = shape[d];
    if (!sh.empty() && sc.back() == c.strides()[d] * n && sa.back() == a.strides()[d] * n &&
        sb.back() == b.strides()[d] * n) {
      sh.back() *= n;
      sc.back() = c.strides()[d];
      sa.back() = a.strides()[d];
      sb.back() = b.strides()[d];
    } else {
      sh.push_back(n);
      sc.push_back(c.strides()[d]);
      sa.push_back(a.strides()[d]);
      sb.push_back(b.strides()[d]);
    }
  }
  IQA_CHECK(int(sh.size()) <= kMaxDims, "where: more than ", kMaxDims, " dims after broadcasting ", shape_str(shape));
  l.ndim = int(sh.size());
  for (int i = 0; i < l.ndim; ++i) {
    l.shape[i] = sh[i];
    l.cond_strides[i] = sc[i];
    l.a_strides[i] = sa[i];
    l.b_strides[i] = sb[i];
  }
  return l;
}

}  // namespace

Tensor neg(const Tensor& a) {
  check_compute_dtype("neg", a);
  Tensor out = unary_forward(UnaryOp::Neg, a.detach().contiguous(), 0, 0);
  record("neg", out, {a}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  return out;
}

Tensor exp(const Tensor& a) { return unary_op(UnaryOp::Exp, a, "exp"); }
Tensor log(const Tensor& a) { return unary_op(UnaryOp::Log, a, "log"); }
Tensor sqrt(const Tensor& a) { return unary_op(UnaryOp::Sqrt, a, "sqrt"); }
Tensor rsqrt(const Tensor& a) { return unary_op(UnaryOp::Rsqrt, a, "rsqrt"); }
Tensor pow(const Tensor& a, double exponent) { return unary_op(UnaryOp::Pow, a, "pow", exponent); }
Tensor abs(const Tensor& a) { return unary_op(UnaryOp::Abs, a, "abs"); }
Tensor sigmoid(const Tensor& a) { return unary_op(UnaryOp::Sigmoid, a, "sigmoid"); }
Tensor tanh(const Tensor& a) { return unary_op(UnaryOp::Tanh, a, "tanh"); }
Tensor relu(const Tensor& a) { return unary_op(UnaryOp::Relu, a, "relu"); }
Tensor quick_gelu(const Tensor& a) { return unary_op(UnaryOp::QuickGelu, a, "quick_gelu"); }

Tensor gelu(const Tensor& a, GeluApprox approx) {
  return approx == GeluApprox::Tanh ? unary_op(UnaryOp::GeluTanh, a, "gelu") : unary_op(UnaryOp::Gelu, a, "gelu");
}

Tensor sign(const Tensor& a) {
  check_compute_dtype("sign", a);
  Tensor out = unary_forward(UnaryOp::Sign, a.detach().contiguous(), 0, 0);
  // Piecewise constant: the gradient is zero everywhere (as in PyTorch), not absent.
  Shape shape = a.shape();
  record("sign", out, {a}, [shape](const Tensor& g) {
    return std::vector<Tensor>{Tensor::zeros(shape, g.dtype(), g.device())};
  });
  return out;
}

Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  IQA_CHECK(lo || hi, "clamp: at least one of lo and hi must be given, for ", a.str());
  double inf = std::numeric_limits<double>::infinity();
  return unary_op(UnaryOp::Clamp, a, "clamp", lo.value_or(-inf), hi.value_or(inf));
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::Where, {cond, a, b},
                          [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); });
  check_same_device("where", {cond, a, b});
  IQA_CHECK(cond.dtype() == DType::U8, "where: cond must be u8, got ", cond.str());
  check_same_dtype("where", a, b);
  Shape shape = broadcast_all({cond.shape(), a.shape(), b.shape()}, "where");
  Tensor ec = cond.detach().expand(shape), ea = a.detach().expand(shape), eb = b.detach().expand(shape);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel() > 0) {
    kernels::WhereLayout l = where_layout(shape, ec, ea, eb);
    if (a.device().is_cpu())
      kernels::cpu::where(a.dtype(), ec.data<uint8_t>(), ea.raw_data(), eb.raw_data(), out.raw_data(), l, out.numel());
    else IQA_ON_CUDA(kernels::cuda::where(a.dtype(), ec.data<uint8_t>(), ea.raw_data(), eb.raw_data(), out.raw_data(),
                                         l, out.numel(), cuda::current_stream()));
  }
  Tensor cd = cond.detach();
  Shape sa = a.shape(), sb = b.shape();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  record("where", out, {a, b}, [cd, sa, sb, ga, gb](const Tensor& g) {
    Tensor zero = Tensor::zeros({}, g.dtype(), g.device());
    return std::vector<Tensor>{ga ? sum_to_shape(where(cd, g, zero), sa) : Tensor(),
                               gb ? sum_to_shape(where(cd, zero, g), sb) : Tensor()};
  });
  return out;
}

Tensor cast(const Tensor& a, DType dtype) {
  // Tensor::to records the backward (gradient cast back) between floating dtypes.
  return a.to(dtype);
}

}  // namespace iqa
