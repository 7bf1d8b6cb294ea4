// matmul / bmm / linear / linear_gelu / linear_quick_gelu. Every product goes through one GEMM call; transposed views are
// handed to the GEMM as transpose flags instead of being copied, and batch dims that collapse to one
// stride run as one strided-batched call.
#include <cmath>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/gemm.h"
#include "engine/quick_gelu_passes.h"

namespace iqa {

namespace {

// How the GEMM reads the last two dims of a tensor, [rows, cols] logically.
struct MatrixLayout {
  bool trans = false;  // stored column-major ([cols, rows] row-major)
  int64_t ld = 1;
};

// Row-major or column-major views need no copy; anything else (expanded rows, slices with a step in
// both dims) returns false. Size-1 dims have arbitrary strides, so they never disqualify a view.
bool matrix_layout(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, MatrixLayout& out) {
  if ((cols == 1 || s_col == 1) && (rows == 1 || s_row >= std::max<int64_t>(1, cols))) {
    out = {false, rows == 1 ? std::max<int64_t>(1, cols) : s_row};
    return true;
  }
  if ((rows == 1 || s_row == 1) && (cols == 1 || s_col >= std::max<int64_t>(1, rows))) {
    out = {true, cols == 1 ? std::max<int64_t>(1, rows) : s_col};
    return true;
  }
  return false;
}

// One stride that walks every batch index of the leading dims in order, if there is one.
bool batch_stride(const Tensor& t, int64_t& stride) {
  stride = 0;
  int64_t expect = -1;  // stride the next-outer non-1 dim must have
  for (int d = t.dim() - 3; d >= 0; --d) {
    int64_t size = t.shape()[d], s = t.strides()[d];
    if (size == 1) continue;
    if (expect < 0) stride = s;
    else if (s != expect) return false;
    expect = s * size;
  }
  return true;
}

struct Operand {
  Tensor t;  // possibly a contiguous copy of the input
  MatrixLayout layout;
  int64_t batch_stride = 0;
};

Operand gemm_operand(const Tensor& t) {
  Operand op{t.detach(), {}, 0};
  int nd = t.dim();
  auto fits = [&](const Tensor& x) {
    return matrix_layout(x.shape()[nd - 2], x.shape()[nd - 1], x.strides()[nd - 2], x.strides()[nd - 1], op.layout) &&
           batch_stride(x, op.batch_stride);
  };
  if (!fits(op.t)) {
    op.t = op.t.contiguous();
    IQA_CHECK(fits(op.t), "matmul: internal error laying out ", t.str());
  }
  return op;
}

kernels::GeluKind gelu_kind(GeluApprox approx) {
  return approx == GeluApprox::Tanh ? kernels::GeluKind::Tanh : kernels::GeluKind::Erf;
}

void gelu_inplace(Tensor& y, GeluApprox approx) {
  if (y.numel() == 0) return;
  if (y.device().is_cpu()) kernels::cpu::gelu_inplace(gelu_kind(approx), y.dtype(), y.raw_data(), y.numel());
  else IQA_ON_CUDA(kernels::cuda::gelu_inplace(gelu_kind(approx), y.dtype(), y.raw_data(), y.numel(),
                                              cuda::current_stream()));
}

// out[..., M, N] = a[..., M, K] @ b[..., K, N] (+ bias[N]) (then GELU when `gelu`), with a and b already
// broadcast to the same batch shape. No autograd. Output contiguous.
Tensor gemm_forward(const Tensor& a, const Tensor& b, const Tensor& bias, std::optional<GeluApprox> gelu) {
  int nd = a.dim();
  int64_t m = a.shape()[nd - 2], k = a.shape()[nd - 1], n = b.shape()[nd - 1];
  Shape out_shape(a.shape().begin(), a.shape().end() - 2);
  int64_t batch = shape_numel(out_shape);
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  Tensor bias_d = bias.defined() ? bias.detach().contiguous() : Tensor();

  if (k == 0) {  // an empty sum: zeros (cuBLASLt rejects k == 0, and [M, 0] views have no useful strides)
    out.zero_();
    if (bias_d.defined()) out = add(out, bias_d);
    if (gelu) gelu_inplace(out, *gelu);
    return out;
  }
  Operand oa = gemm_operand(a), ob = gemm_operand(b);
  kernels::GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.trans_a = oa.layout.trans;
  g.trans_b = ob.layout.trans;
  g.a = oa.t.raw_data();
  g.b = ob.t.raw_data();
  g.c = out.raw_data();
  g.lda = oa.layout.ld;
  g.ldb = ob.layout.ld;
  g.ldc = n;
  g.batch = batch;
  g.stride_a = oa.batch_stride;
  g.stride_b = ob.batch_stride;
  g.stride_c = m * n;
  g.dtype = a.dtype();
  bool separate_gelu = false;
  if (bias_d.defined()) {
    g.bias = bias_d.raw_data();
    g.epilogue = !gelu ? kernels::GemmEpilogue::Bias
                 : *gelu == GeluApprox::Tanh ? kernels::GemmEpilogue::BiasGeluTanh
                                             : kernels::GemmEpilogue::BiasGelu;
  } else {
    separate_gelu = gelu.has_value();
  }
  if (a.device().is_cpu()) kernels::cpu::gemm(g);
  else IQA_ON_CUDA(kernels::cuda::gemm(g, cuda::current_stream()));
  if (separate_gelu) gelu_inplace(out, *gelu);
  return out;
}

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_same_device(op, {a, b});
  check_same_dtype(op, a, b);
  check_compute_dtype(op, a);
}

// x2 [rows, in], W [out, in]: forward of linear / linear_gelu on 2-D data.
Tensor linear_2d(const Tensor& x2, const Tensor& weight, const Tensor& bias, std::optional<GeluApprox> gelu) {
  return gemm_forward(x2, weight.detach().transpose(0, 1), bias, gelu);
}

void check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_operands(op, x, weight);
  IQA_CHECK(weight.dim() == 2, op, ": weight must be [out, in], got ", weight.str());
  IQA_CHECK(x.dim() >= 1 && x.shape().back() == weight.shape()[1], op, ": input ", x.str(),
            " does not end in in_features ", weight.shape()[1], " of weight ", weight.str());
  if (bias.defined()) {
    check_operands(op, x, bias);
    IQA_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], op, ": bias ", bias.str(),
              " must be [", weight.shape()[0], "]");
  }
}

// Gradients of y2 = x2 W^T + b given dY2 [rows, out]: {dX2, dW, db}, each only when wanted.
std::vector<Tensor> linear_backward_2d(const Tensor& g2, const Tensor& x2, const Tensor& w, bool want_x, bool want_w,
                                       bool want_b) {
  Tensor dx = want_x ? matmul(g2, w) : Tensor();
  Tensor dw = want_w ? matmul(g2.transpose(0, 1), x2) : Tensor();
  Tensor db = want_b ? sum(g2, {0}) : Tensor();
  return {dx, dw, db};
}

Tensor linear_impl(const char* name, const Tensor& x, const Tensor& weight, const Tensor& bias,
                   std::optional<GeluApprox> gelu) {
  check_linear(name, x, weight, bias);
  const int64_t in = weight.shape()[1], out_f = weight.shape()[0];
  Tensor x2 = x.detach().reshape({-1, in});
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(out_f);
  Tensor out = linear_2d(x2, weight, bias, gelu).view(out_shape);
  Tensor wd = weight.detach(), bd = bias.defined() ? bias.detach() : Tensor();
  bool want_x = x.requires_grad(), want_w = weight.requires_grad(), want_b = bias.defined() && bias.requires_grad();
  Shape x_shape = x.shape();
  record(name, out, {x, weight, bias}, [x2, wd, bd, gelu, want_x, want_w, want_b, x_shape, out_f](const Tensor& g) {
    Tensor g2 = g.reshape({-1, out_f});
    if (gelu) {
      // Recompute the pre-activation rather than keeping it alive from the forward.
      Tensor pre = linear_2d(x2, wd, bd, std::nullopt);
      Tensor dpre = Tensor::empty(pre.shape(), pre.dtype(), pre.device());
      Tensor gc = g2.contiguous();
      if (pre.device().is_cpu())
        kernels::cpu::gelu_backward(gelu_kind(*gelu), pre.dtype(), pre.raw_data(), gc.raw_data(), dpre.raw_data(),
                                    pre.numel());
      else IQA_ON_CUDA(kernels::cuda::gelu_backward(gelu_kind(*gelu), pre.dtype(), pre.raw_data(), gc.raw_data(),
                                                   dpre.raw_data(), pre.numel(), cuda::current_stream()));
      g2 = dpre;
    }
    std::vector<Tensor> grads = linear_backward_2d(g2, x2, wd, want_x, want_w, want_b);
    if (grads[0].defined()) grads[0] = grads[0].reshape(x_shape);
    return grads;
  });
  return out;
}

// pre = x2 W^T + b (bias in the GEMM epilogue) is kept for the backward; y = QuickGELU(pre) in one pass.
Tensor linear_quick_gelu_impl(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear("linear_quick_gelu", x, weight, bias);
  const int64_t in = weight.shape()[1], out_f = weight.shape()[0];
  Tensor x2 = x.detach().reshape({-1, in});
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(out_f);
  Tensor pre = linear_2d(x2, weight, bias, std::nullopt);
  Tensor y2 = Tensor::empty(pre.shape(), pre.dtype(), pre.device());
  quick_gelu_pass(pre, y2);
  Tensor out = y2.view(out_shape);
  Tensor wd = weight.detach();
  bool want_x = x.requires_grad(), want_w = weight.requires_grad(), want_b = bias.defined() && bias.requires_grad();
  Shape x_shape = x.shape();
  record("linear_quick_gelu", out, {x, weight, bias}, [x2, wd, pre, want_x, want_w, want_b, x_shape, out_f](const Tensor& g) {
    Tensor gc = g.reshape({-1, out_f}).contiguous();
    if (gc.dtype() != pre.dtype()) gc = gc.to(pre.dtype());
    Tensor dpre = Tensor::empty(pre.shape(), pre.dtype(), pre.device());
    Tensor db = want_b ? Tensor::empty({out_f}, pre.dtype(), pre.device()) : Tensor();
    quick_gelu_backward_pass(pre, gc, dpre, db);
    std::vector<Tensor> grads = linear_backward_2d(dpre, x2, wd, want_x, want_w, false);
    if (grads[0].defined()) grads[0] = grads[0].reshape(x_shape);
    grads[2] = db;
    return grads;
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::Matmul, {a, b}, [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); });
  check_operands("matmul", a, b);
  IQA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: scalars are not matrices: ", a.str(), " @ ", b.str());
  // 1-D operands follow torch.matmul: a vector is a [1, K] row or a [K, 1] column, dropped afterwards.
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  const int64_t k = a.shape().back();
  IQA_CHECK(b.shape()[b.dim() - 2] == k, "matmul: inner dims differ: ", a.str(), " @ ", b.str());
  // A batch of rows times one matrix is a single 2-D GEMM over the flattened rows.
  if (b.dim() == 2 && a.dim() > 2) {
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    out_shape.push_back(b.shape()[1]);
    return matmul(a.reshape({-1, k}), b).view(out_shape);
  }
  // Broadcast the batch dims (NumPy rules over everything but the last two).
  int nb = std::max(a.dim(), b.dim()) - 2;
  Shape batch(size_t(nb), 1);
  for (int i = 0; i < nb; ++i) {
    int ia = i - (nb - (a.dim() - 2)), ib = i - (nb - (b.dim() - 2));
    int64_t da = ia >= 0 ? a.shape()[ia] : 1, db = ib >= 0 ? b.shape()[ib] : 1;
    IQA_CHECK(da == db || da == 1 || db == 1, "matmul: batch dims do not broadcast: ", a.str(), " @ ", b.str());
    batch[i] = da == 1 ? db : da;
  }
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {a.shape()[a.dim() - 2], k});
  sb.insert(sb.end(), {k, b.shape().back()});
  Tensor out = gemm_forward(a.detach().expand(sa), b.detach().expand(sb), Tensor(), std::nullopt);
  Tensor ad = a.detach(), bd = b.detach();
  bool want_a = a.requires_grad(), want_b = b.requires_grad();
  record("matmul", out, {a, b}, [ad, bd, want_a, want_b](const Tensor& g) {
    // dA = g B^T, dB = A^T g, then summed over the batch dims that were broadcast.
    Tensor da = want_a ? sum_to_shape(matmul(g, bd.transpose(-1, -2)), ad.shape()) : Tensor();
    Tensor db = want_b ? sum_to_shape(matmul(ad.transpose(-1, -2), g), bd.shape()) : Tensor();
    return std::vector<Tensor>{da, db};
  });
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  IQA_CHECK(a.dim() == 3 && b.dim() == 3 && a.shape()[0] == b.shape()[0] && a.shape()[2] == b.shape()[1],
            "bmm: expected [B, M, K] x [B, K, N], got ", a.str(), " and ", b.str());
  return matmul(a, b);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::Linear, {x, weight, bias},
                          [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); });
  return linear_impl("linear", x, weight, bias, std::nullopt);
}

Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias, GeluApprox approx) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::LinearGelu, {x, weight, bias},
                          [approx](const std::vector<Tensor>& in) { return linear_gelu(in[0], in[1], in[2], approx); });
  return linear_impl("linear_gelu", x, weight, bias, approx);
}

Tensor linear_quick_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::LinearQuickGelu, {x, weight, bias},
                          [](const std::vector<Tensor>& in) { return linear_quick_gelu(in[0], in[1], in[2]); });
  return linear_quick_gelu_impl(x, weight, bias);
}

}  // namespace iqa
