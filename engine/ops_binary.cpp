// Binary elementwise ops with NumPy broadcasting, and sum_to_shape (their backward's reduction).
#include <algorithm>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/elementwise.h"

namespace iqa {

namespace {

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    IQA_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
              " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Runs the kernel on a and b expanded to the common shape. Output contiguous.
Tensor run_binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_same_device(name, {a, b});
  check_same_dtype(name, a, b);
  Shape shape = broadcast_shape(a.shape(), b.shape(), name);
  Tensor ea = a.detach().expand(shape), eb = b.detach().expand(shape);
  bool cmp = op == kernels::BinaryOp::Gt || op == kernels::BinaryOp::Lt || op == kernels::BinaryOp::Eq;
  Tensor out = Tensor::empty(shape, cmp ? DType::U8 : a.dtype(), a.device());
  kernels::BroadcastLayout l;
  // Merge adjacent dims where both inputs stay linear, so the common cases run one flat loop.
  std::vector<int64_t> sh, sa, sb;
  for (int d = 0; d < int(shape.size()); ++d) {
    if (shape[d] == 1) continue;
    if (!sh.empty() && sa.back() == ea.strides()[d] * shape[d] && sb.back() == eb.strides()[d] * shape[d]) {
      sh.back() *= shape[d];
      sa.back() = ea.strides()[d];
      sb.back() = eb.strides()[d];
    } else {
      sh.push_back(shape[d]);
      sa.push_back(ea.strides()[d]);
      sb.push_back(eb.strides()[d]);
    }
  }
  IQA_CHECK(int(sh.size()) <= kMaxDims, name, ": too many dims after broadcasting");
  l.ndim = int(sh.size());
  for (int i = 0; i < l.ndim; ++i) {
    l.shape[i] = sh[i];
    l.a_strides[i] = sa[i];
    l.b_strides[i] = sb[i];
  }
  if (out.numel() == 0) return out;
  if (a.device().is_cpu()) kernels::cpu::binary(op, a.dtype(), ea.raw_data(), eb.raw_data(), out.raw_data(), l, out.numel());
  else IQA_ON_CUDA(kernels::cuda::binary(op, a.dtype(), ea.raw_data(), eb.raw_data(), out.raw_data(), l, out.numel(),
                                        cuda::current_stream()));
  return out;
}

Tensor scalar_like(const Tensor& a, double v) { return Tensor::full({}, v, a.dtype(), a.device()); }

}  // namespace

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int lead = g.dim() - int(shape.size());
  IQA_CHECK(lead >= 0, "sum_to_shape: ", g.str(), " cannot reduce to ", shape_str(shape));
  std::vector<int> dims;
  for (int d = 0; d < g.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? g : sum(g, dims, true);
  return r.reshape(shape);
}

namespace {

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

// One differentiable binary op: under autocast the op table casts a and b and calls `self` again
// (autocast suspended); otherwise the kernel runs and `backward` is recorded.
Tensor binary_op(amp::Op amp_op, kernels::BinaryOp op, const char* name, BinaryFn self, const Tensor& a,
                 const Tensor& b, BackwardFn backward) {
  if (amp::autocast_active())
    return amp::dispatch1(amp_op, {a, b}, [self](const std::vector<Tensor>& in) { return self(in[0], in[1]); });
  Tensor out = run_binary(op, a, b, name);
  record(name, out, {a, b}, std::move(backward));
  return out;
}

// maximum / minimum: the gradient goes to b where b_wins(a, b), to a elsewhere (so ties go to a).
BackwardFn extremum_backward(const Tensor& a, const Tensor& b, BinaryFn b_wins) {
  Tensor ad = a.detach(), bd = b.detach();
  return [ad, bd, b_wins](const Tensor& g) {
    Tensor take_b = cast(b_wins(ad, bd), g.dtype());
    Tensor ones = Tensor::full({}, 1.0, g.dtype(), g.device());
    return std::vector<Tensor>{sum_to_shape(mul(g, sub(ones, take_b)), ad.shape()),
                               sum_to_shape(mul(g, take_b), bd.shape())};
  };
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  return binary_op(amp::Op::Add, kernels::BinaryOp::Add, "add", add, a, b, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  return binary_op(amp::Op::Sub, kernels::BinaryOp::Sub, "sub", sub, a, b, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return binary_op(amp::Op::Mul, kernels::BinaryOp::Mul, "mul", mul, a, b, [ad, bd, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{ga ? sum_to_shape(mul(g, bd), ad.shape()) : Tensor(),
                               gb ? sum_to_shape(mul(g, ad), bd.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return binary_op(amp::Op::Div, kernels::BinaryOp::Div, "div", div, a, b, [ad, bd, ga, gb](const Tensor& g) {
    Tensor g_over_b = div(g, bd);
    // d(a/b)/db = -(a/b)/b; a/b recomputed here is bit-identical to the forward's output.
    return std::vector<Tensor>{ga ? sum_to_shape(g_over_b, ad.shape()) : Tensor(),
                               gb ? sum_to_shape(neg(mul(g_over_b, div(ad, bd))), bd.shape()) : Tensor()};
  });
}

Tensor add(const Tensor& a, double s) { return add(a, scalar_like(a, s)); }
Tensor mul(const Tensor& a, double s) { return mul(a, scalar_like(a, s)); }

Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_op(amp::Op::Maximum, kernels::BinaryOp::Max, "maximum", maximum, a, b, extremum_backward(a, b, lt));
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_op(amp::Op::Minimum, kernels::BinaryOp::Min, "minimum", minimum, a, b, extremum_backward(a, b, gt));
}

Tensor gt(const Tensor& a, const Tensor& b) { return run_binary(kernels::BinaryOp::Gt, a, b, "gt"); }
Tensor lt(const Tensor& a, const Tensor& b) { return run_binary(kernels::BinaryOp::Lt, a, b, "lt"); }
Tensor eq(const Tensor& a, const Tensor& b) { return run_binary(kernels::BinaryOp::Eq, a, b, "eq"); }

}  // namespace iqa
