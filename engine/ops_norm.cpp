// softmax / log_softmax over any dim, and layer_norm over the last dim. Kernels work on contiguous rows;
// a dim other than the last is moved last (transpose + contiguous) and moved back after.
#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/layer_norm.h"
#include "kernels/softmax.h"

namespace iqa {

namespace {

// x with `dim` swapped to the end, contiguous, no history.
Tensor rows_last(const Tensor& x, int dim) {
  Tensor d = x.detach();
  if (dim != x.dim() - 1) d = d.transpose(dim, x.dim() - 1);
  return d.contiguous();
}

// Inverse of rows_last: swaps the last dim back into `dim`, contiguous.
Tensor rows_restore(const Tensor& y, int dim) {
  if (dim == y.dim() - 1) return y;
  return y.transpose(dim, y.dim() - 1).contiguous();
}

Tensor softmax_impl(const char* name, const Tensor& x, int dim, bool log) {
  check_compute_dtype(name, x);
  if (x.dim() == 0) return softmax_impl(name, x.reshape({1}), 0, log).reshape({});
  int d = wrap_dim(dim, x.dim(), name);
  Tensor xr = rows_last(x, d);
  const int64_t cols = xr.shape().back(), rows = cols == 0 ? 0 : xr.numel() / cols;
  Tensor yr = Tensor::empty(xr.shape(), x.dtype(), x.device());
  if (rows > 0) {
    if (x.device().is_cpu()) kernels::cpu::softmax_forward(log, x.dtype(), xr.raw_data(), yr.raw_data(), rows, cols);
    else IQA_ON_CUDA(kernels::cuda::softmax_forward(log, x.dtype(), xr.raw_data(), yr.raw_data(), rows, cols,
                                                   cuda::current_stream()));
  }
  Tensor out = rows_restore(yr, d);
  Tensor y_rows = yr.detach();  // the output in row layout, shared storage when dim is last
  record(name, out, {x}, [y_rows, d, rows, cols, log](const Tensor& g) {
    Tensor gr = rows_last(g, d);
    Tensor dxr = Tensor::empty(gr.shape(), y_rows.dtype(), y_rows.device());
    if (rows > 0) {
      if (gr.device().is_cpu())
        kernels::cpu::softmax_backward(log, y_rows.dtype(), y_rows.raw_data(), gr.raw_data(), dxr.raw_data(), rows, cols);
      else IQA_ON_CUDA(kernels::cuda::softmax_backward(log, y_rows.dtype(), y_rows.raw_data(), gr.raw_data(),
                                                      dxr.raw_data(), rows, cols, cuda::current_stream()));
    }
    return std::vector<Tensor>{rows_restore(dxr, d)};
  });
  return out;
}

// Statistics dtype: f32, except f64 data on the CPU (exact gradient checks).
DType stat_dtype(const Tensor& x) { return x.dtype() == DType::F64 ? DType::F64 : DType::F32; }

}  // namespace

Tensor softmax(const Tensor& a, int dim) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::Softmax, {a}, [dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); });
  return softmax_impl("softmax", a, dim, false);
}
Tensor log_softmax(const Tensor& a, int dim) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::LogSoftmax, {a},
                          [dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); });
  return softmax_impl("log_softmax", a, dim, true);
}

namespace {

// Checks shared by layer_norm and add_layer_norm; returns the contiguous no-history weight and bias.
void check_norm_params(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& wc,
                       Tensor& bc) {
  check_compute_dtype(op, x);
  check_same_device(op, {x, weight, bias});
  IQA_CHECK(x.dim() >= 1 && x.shape().back() > 0, op, ": input ", x.str(), " needs a non-empty last dim");
  const int64_t cols = x.shape().back();
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    check_same_dtype(op, x, *p);
    IQA_CHECK(p->dim() == 1 && p->shape()[0] == cols, op, ": ", (p == &weight ? "weight " : "bias "), p->str(),
              " must be [", cols, "] for input ", x.str());
  }
  wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  bc = bias.defined() ? bias.detach().contiguous() : Tensor();
}

// The LayerNorm backward rule at the normalised input xc (contiguous, no history): {dx, dweight, dbias}.
BackwardFn layer_norm_backward_fn(Tensor xc, Tensor wc, Tensor mean, Tensor rstd, int64_t rows, int64_t cols,
                                  bool want_w, bool want_b) {
  return [xc, wc, mean, rstd, rows, cols, want_w, want_b](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(xc.shape(), xc.dtype(), xc.device());
    Tensor dw = want_w ? Tensor::empty({cols}, xc.dtype(), xc.device()) : Tensor();
    Tensor db = want_b ? Tensor::empty({cols}, xc.dtype(), xc.device()) : Tensor();
    const void* wp = wc.defined() ? wc.raw_data() : nullptr;
    void* dwp = want_w ? dw.raw_data() : nullptr;
    void* dbp = want_b ? db.raw_data() : nullptr;
    if (rows == 0) {  // no rows: parameter gradients are empty sums
      if (want_w) dw.zero_();
      if (want_b) db.zero_();
    } else if (xc.device().is_cpu()) {
      kernels::cpu::layer_norm_backward(xc.dtype(), xc.raw_data(), wp, mean.raw_data(), rstd.raw_data(), gc.raw_data(),
                                        dx.raw_data(), dwp, dbp, rows, cols);
    } else {
      IQA_ON_CUDA({
        Tensor ws = Tensor::empty({kernels::cuda::layer_norm_backward_workspace_floats(rows, cols)}, DType::F32,
                                  xc.device());
        kernels::cuda::layer_norm_backward(xc.dtype(), xc.raw_data(), wp, mean.data<float>(), rstd.data<float>(),
                                           gc.raw_data(), dx.raw_data(), dwp, dbp, rows, cols, ws.data<float>(),
                                           cuda::current_stream());
      });
    }
    return std::vector<Tensor>{dx, dw, db};
  };
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::LayerNorm, {x, weight, bias},
                          [eps](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2], eps); });
  Tensor wc, bc;
  check_norm_params("layer_norm", x, weight, bias, wc, bc);
  const int64_t cols = x.shape().back(), rows = x.numel() / cols;
  Tensor xc = x.detach().contiguous();
  const void* wp = wc.defined() ? wc.raw_data() : nullptr;
  const void* bp = bc.defined() ? bc.raw_data() : nullptr;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({rows}, stat_dtype(x), x.device());
  Tensor rstd = Tensor::empty({rows}, stat_dtype(x), x.device());
  if (rows > 0) {
    if (x.device().is_cpu())
      kernels::cpu::layer_norm_forward(x.dtype(), xc.raw_data(), wp, bp, y.raw_data(), mean.raw_data(), rstd.raw_data(),
                                       rows, cols, eps);
    else IQA_ON_CUDA(kernels::cuda::layer_norm_forward(x.dtype(), xc.raw_data(), wp, bp, y.raw_data(),
                                                      mean.data<float>(), rstd.data<float>(), rows, cols, eps,
                                                      cuda::current_stream()));
  }
  bool want_w = weight.defined() && weight.requires_grad(), want_b = bias.defined() && bias.requires_grad();
  record("layer_norm", y, {x, weight, bias}, layer_norm_backward_fn(xc, wc, mean, rstd, rows, cols, want_w, want_b));
  return y;
}

// Two autograd nodes over one forward kernel: `sum` (gradient passed to x and residual unchanged) and
// `out`, a LayerNorm whose input is `sum`. The tape has single-output nodes, so the gradient reaching sum
// from its other consumers is added by the tape, as it would be after an unfused add + layer_norm; the
// kernels' grad_sum operand (add_layer_norm_backward) does that add in the LayerNorm pass for callers
// that hold both gradients.
AddLayerNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight, const Tensor& bias,
                                  double eps) {
  if (amp::autocast_active()) {  // f32: the sum is the residual stream, which autocast keeps in f32
    std::vector<Tensor> r = amp::dispatch(amp::Op::AddLayerNorm, {x, residual, weight, bias}, [eps](const std::vector<Tensor>& in) {
      AddLayerNormResult o = add_layer_norm(in[0], in[1], in[2], in[3], eps);
      return std::vector<Tensor>{o.sum, o.out};
    });
    return {r[0], r[1]};
  }
  Tensor wc, bc;
  check_norm_params("add_layer_norm", x, weight, bias, wc, bc);
  check_same_device("add_layer_norm", {x, residual});
  check_same_dtype("add_layer_norm", x, residual);
  IQA_CHECK(x.shape() == residual.shape(), "add_layer_norm: x ", x.str(), " and residual ", residual.str(),
            " must have the same shape");
  const int64_t cols = x.shape().back(), rows = x.numel() / cols;
  Tensor xc = x.detach().contiguous(), rc = residual.detach().contiguous();
  const void* wp = wc.defined() ? wc.raw_data() : nullptr;
  const void* bp = bc.defined() ? bc.raw_data() : nullptr;
  AddLayerNormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(x.shape(), x.dtype(), x.device())};
  Tensor mean = Tensor::empty({rows}, stat_dtype(x), x.device());
  Tensor rstd = Tensor::empty({rows}, stat_dtype(x), x.device());
  if (rows > 0) {
    if (x.device().is_cpu())
      kernels::cpu::add_layer_norm_forward(x.dtype(), xc.raw_data(), rc.raw_data(), wp, bp, r.sum.raw_data(),
                                           r.out.raw_data(), mean.raw_data(), rstd.raw_data(), rows, cols, eps);
    else IQA_ON_CUDA(kernels::cuda::add_layer_norm_forward(x.dtype(), xc.raw_data(), rc.raw_data(), wp, bp,
                                                          r.sum.raw_data(), r.out.raw_data(), mean.data<float>(),
                                                          rstd.data<float>(), rows, cols, eps, cuda::current_stream()));
  }
  record("add_layer_norm.sum", r.sum, {x, residual}, [](const Tensor& g) { return std::vector<Tensor>{g, g}; });
  bool want_w = weight.defined() && weight.requires_grad(), want_b = bias.defined() && bias.requires_grad();
  record("add_layer_norm", r.out, {r.sum, weight, bias},
         layer_norm_backward_fn(r.sum.detach(), wc, mean, rstd, rows, cols, want_w, want_b));
  return r;
}

}  // namespace iqa
