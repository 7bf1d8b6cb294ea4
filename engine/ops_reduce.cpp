// Reductions over dims: permute the reduced dims last, make contiguous, reduce rows.
#include <algorithm>
#include <numeric>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/reduce.h"

namespace iqa {

namespace {

struct ReducePlan {
  std::vector<int> dims;     // sorted, unique, wrapped
  std::vector<bool> reduced; // per input dim
  Shape keep_shape;          // output shape with keepdim
  Shape out_shape;           // output shape without keepdim
  int64_t outer = 1, inner = 1;
};

ReducePlan plan_reduce(const Tensor& x, std::vector<int> dims, const char* op) {
  ReducePlan p;
  int nd = x.dim();
  if (dims.empty()) {
    dims.resize(nd);
    std::iota(dims.begin(), dims.end(), 0);
  }
  p.reduced.assign(nd, false);
  for (int d : dims) {
    int w = wrap_dim(d, nd, op);
    IQA_CHECK(!p.reduced[w], op, ": dim ", d, " listed twice");
    p.reduced[w] = true;
    p.dims.push_back(w);
  }
  std::sort(p.dims.begin(), p.dims.end());
  for (int d = 0; d < nd; ++d) {
    if (p.reduced[d]) {
      p.inner *= x.shape()[d];
      p.keep_shape.push_back(1);
    } else {
      p.outer *= x.shape()[d];
      p.keep_shape.push_back(x.shape()[d]);
      p.out_shape.push_back(x.shape()[d]);
    }
  }
  return p;
}

// The input rearranged as a contiguous [outer, inner] buffer (no autograd).
Tensor rows_view(const Tensor& x, const ReducePlan& p) {
  std::vector<int> perm;
  for (int d = 0; d < x.dim(); ++d)
    if (!p.reduced[d]) perm.push_back(d);
  for (int d : p.dims) perm.push_back(d);
  return x.detach().permute(perm).contiguous();
}

Tensor reduce_impl(const Tensor& x, const ReducePlan& p, kernels::ReduceOp op, bool keepdim) {
  Tensor rows = rows_view(x, p);
  Tensor out = Tensor::empty(keepdim ? p.keep_shape : p.out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  IQA_CHECK(p.inner > 0 || op == kernels::ReduceOp::Sum, "reduction over an empty dim of ", x.str());
  if (x.device().is_cpu()) kernels::cpu::reduce_rows(op, x.dtype(), rows.raw_data(), out.raw_data(), p.outer, p.inner);
  else IQA_ON_CUDA(kernels::cuda::reduce_rows(op, x.dtype(), rows.raw_data(), out.raw_data(), p.outer, p.inner,
                                             cuda::current_stream()));
  return out;
}

// The upstream gradient of a reduction, shaped with keepdim and broadcast to the input's shape.
// Reshapes through make_view on a contiguous copy so a 0-dim gradient (full reduction) works too.
Tensor expand_reduced_grad(const Tensor& g, const Shape& keep, const Shape& in_shape) {
  Tensor c = g.contiguous();
  return make_view(c, keep, contiguous_strides(keep), c.offset()).expand(in_shape).contiguous();
}

// sum and mean: one row reduction; the mean's gradient is the sum's divided by the row length.
Tensor sum_or_mean(const Tensor& x, std::vector<int> dims, bool keepdim, bool is_mean) {
  if (amp::autocast_active())
    return amp::dispatch1(is_mean ? amp::Op::Mean : amp::Op::Sum, {x}, [&](const std::vector<Tensor>& in) {
      return sum_or_mean(in[0], dims, keepdim, is_mean);
    });
  const char* name = is_mean ? "mean" : "sum";
  ReducePlan p = plan_reduce(x, std::move(dims), name);
  Tensor out = reduce_impl(x, p, is_mean ? kernels::ReduceOp::Mean : kernels::ReduceOp::Sum, keepdim);
  Shape in_shape = x.shape(), keep = p.keep_shape;
  double inv = 1.0 / double(std::max<int64_t>(p.inner, 1));
  record(name, out, {x}, [in_shape, keep, inv, is_mean](const Tensor& g) {
    return std::vector<Tensor>{expand_reduced_grad(is_mean ? mul(g, inv) : g, keep, in_shape)};
  });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, std::vector<int> dims, bool keepdim) { return sum_or_mean(x, std::move(dims), keepdim, false); }
Tensor mean(const Tensor& x, std::vector<int> dims, bool keepdim) { return sum_or_mean(x, std::move(dims), keepdim, true); }

Tensor argmax(const Tensor& x, int dim, bool keepdim) {
  ReducePlan p = plan_reduce(x, {dim}, "argmax");
  IQA_CHECK(p.inner > 0, "argmax over an empty dim of ", x.str());
  Tensor rows = rows_view(x, p);
  Tensor idx = Tensor::empty(keepdim ? p.keep_shape : p.out_shape, DType::I64, x.device());
  if (idx.numel() == 0) return idx;
  if (x.device().is_cpu()) kernels::cpu::argmax_rows(x.dtype(), rows.raw_data(), idx.data<int64_t>(), p.outer, p.inner);
  else IQA_ON_CUDA(kernels::cuda::argmax_rows(x.dtype(), rows.raw_data(), idx.data<int64_t>(), p.outer, p.inner,
                                             cuda::current_stream()));
  return idx;
}

MaxResult max(const Tensor& x, int dim, bool keepdim) {
  int d = wrap_dim(dim, x.dim(), "max: dim");
  Tensor idx_keep = argmax(x, d, true);
  // values = gather at the argmax, so the gradient routes to exactly that element (torch semantics).
  Tensor values_keep = gather(x, d, idx_keep);
  MaxResult r;
  r.values = keepdim ? values_keep : values_keep.squeeze(d);
  r.indices = keepdim ? idx_keep : idx_keep.squeeze(d);
  return r;
}

Tensor max_all(const Tensor& x) {
  return max(x.reshape({-1}), 0, false).values;
}

Tensor var(const Tensor& x, std::vector<int> dims, int correction, bool keepdim) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::Var, {x},
                          [&](const std::vector<Tensor>& in) { return var(in[0], dims, correction, keepdim); });
  ReducePlan p = plan_reduce(x, dims, "var");
  IQA_CHECK(p.inner - correction > 0, "var: ", p.inner, " elements with correction ", correction, " in ", x.str());
  // Composite: two-pass (x - mean)^2, so the backward is the chain rule of simple ops.
  Tensor centered = sub(x, mean(x, dims, true));
  Tensor out = mul(sum(mul(centered, centered), dims, keepdim), 1.0 / double(p.inner - correction));
  return out;
}

}  // namespace iqa
