// concat / stack (strided copies into slices of one output) and index_select / gather (kernels in
// kernels/index.h), with their backward rules: slices of the gradient, index_add and scatter_add.
#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/index.h"
#include "kernels/sync_check.h"

namespace iqa {

namespace {

void check_index_tensor(const char* op, const Tensor& x, const Tensor& index) {
  IQA_CHECK(index.defined(), op, ": index is undefined");
  IQA_CHECK(index.dtype() == DType::I64 || index.dtype() == DType::I32, op, ": index must be i64 or i32, got ",
            index.str());
  check_same_device(op, {x, index});
}

// Throws naming the op, the first offending index value and its position when any index is outside
// [0, limit). On CUDA the kernels check on the device without a sync and the error is thrown at the
// next synchronising copy to the host (kernels/index.h); only IQA_CUDA_SYNC_CHECK=1 checks here, with
// a sync, so the error names the op's input.
void check_index_range(const char* op, const Tensor& index_c, int64_t limit, int dim, const Tensor& x) {
  int64_t n = index_c.numel();
  int64_t bad = -1;
  if (index_c.device().is_cpu()) {
    bad = kernels::cpu::find_bad_index(index_c.raw_data(), index_c.dtype(), n, limit);
  } else {
    if (!kernels::sync_check_enabled()) return;
    IQA_ON_CUDA({
      Tensor scratch = Tensor::empty({1}, DType::I64, index_c.device());
      bad = kernels::cuda::find_bad_index(index_c.raw_data(), index_c.dtype(), n, limit, scratch.data<int64_t>(),
                                          cuda::current_stream());
    });
  }
  if (bad < 0) return;
  int64_t value = int64_t(index_c.reshape({-1}).narrow(0, bad, 1).item());
  fail(cat(op, ": index ", value, " (at position ", bad, ") is out of range for dim ", dim, " of size ", limit,
           " of ", x.str()));
}

// Zeroed accumulator for an adjoint: f32 on CUDA (atomics add in f32), the gradient dtype on the CPU.
Tensor adjoint_accumulator(const Shape& shape, DType dt, Device dev) {
  return Tensor::zeros(shape, dev.is_cpu() ? dt : DType::F32, dev);
}

}  // namespace

// ------------------------------------------------------------------------------------ concat/stack

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  if (amp::autocast_active())
    return amp::dispatch1(amp::Op::Concat, xs, [dim](const std::vector<Tensor>& in) { return concat(in, dim); });
  IQA_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  for (const Tensor& t : xs) IQA_CHECK(t.defined(), "concat: undefined tensor in the list");
  check_same_device("concat", xs);
  int d = wrap_dim(dim, first.dim(), "concat: dim");
  Shape shape = first.shape();
  shape[d] = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& t : xs) {
    check_same_dtype("concat", first, t);
    IQA_CHECK(t.dim() == first.dim(), "concat: ", t.str(), " and ", first.str(), " differ in rank");
    for (int k = 0; k < t.dim(); ++k)
      IQA_CHECK(k == d || t.shape()[k] == first.shape()[k], "concat: ", t.str(), " and ", first.str(),
                " differ in dim ", k, " (concatenating along dim ", d, ")");
    sizes.push_back(t.shape()[d]);
    shape[d] += t.shape()[d];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  int64_t offset = 0;
  for (const Tensor& t : xs) {
    if (t.numel() > 0) out.detach().narrow(d, offset, t.shape()[d]).copy_(t.detach());
    offset += t.shape()[d];
  }
  record("concat", out, xs, [d, sizes](const Tensor& grad) {
    std::vector<Tensor> grads;
    int64_t off = 0;
    for (int64_t len : sizes) {
      grads.push_back(grad.detach().narrow(d, off, len).contiguous());
      off += len;
    }
    return grads;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int dim) {
  IQA_CHECK(!xs.empty(), "stack: no tensors given");
  for (const Tensor& t : xs) {
    IQA_CHECK(t.defined(), "stack: undefined tensor in the list");
    IQA_CHECK(t.shape() == xs[0].shape(), "stack: ", t.str(), " and ", xs[0].str(), " differ in shape");
  }
  int d = wrap_dim(dim, xs[0].dim() + 1, "stack: dim");
  std::vector<Tensor> expanded;
  expanded.reserve(xs.size());
  for (const Tensor& t : xs) expanded.push_back(t.unsqueeze(d));
  return concat(expanded, d);
}

// -------------------------------------------------------------------------------- index_select

Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  const char* op = "index_select";
  check_index_tensor(op, x, index);
  IQA_CHECK(index.dim() <= 1, op, ": index must be 1-D, got ", index.str());
  IQA_CHECK(x.dim() >= 1, op, ": input must have at least one dim, got ", x.str());
  int d = wrap_dim(dim, x.dim(), "index_select: dim");
  Tensor xc = x.detach().contiguous(), ic = index.detach().contiguous();
  kernels::IndexSelectGeometry g;
  for (int k = 0; k < d; ++k) g.outer *= x.shape()[k];
  for (int k = d + 1; k < x.dim(); ++k) g.inner *= x.shape()[k];
  g.src_size = x.shape()[d];
  g.n_index = ic.numel();
  check_index_range(op, ic, g.src_size, d, x);
  Shape shape = x.shape();
  shape[d] = g.n_index;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (out.numel() > 0) {
    if (x.device().is_cpu())
      kernels::cpu::index_select(x.dtype(), g, xc.raw_data(), ic.raw_data(), ic.dtype(), out.raw_data());
    else IQA_ON_CUDA(kernels::cuda::index_select(x.dtype(), g, xc.raw_data(), ic.raw_data(), ic.dtype(), out.raw_data(),
                                                d, cuda::current_stream()));
  }
  const DType dt = x.dtype();
  const Shape in_shape = x.shape();
  record(op, out, {x}, [=](const Tensor& grad) {
    check_compute_dtype("index_select backward", grad);
    Tensor gy = grad.detach().to(grad.is_cuda() ? grad.dtype() : dt).contiguous();
    Tensor acc = adjoint_accumulator(in_shape, dt, gy.device());
    if (gy.numel() > 0) {
      if (gy.device().is_cpu())
        kernels::cpu::index_add(dt, g, gy.raw_data(), ic.raw_data(), ic.dtype(), acc.raw_data());
      else IQA_ON_CUDA(kernels::cuda::index_add(gy.dtype(), g, gy.raw_data(), ic.raw_data(), ic.dtype(),
                                               acc.data<float>(), cuda::current_stream()));
    }
    return std::vector<Tensor>{acc.to(dt)};
  });
  return out;
}

// -------------------------------------------------------------------------------------- gather

Tensor gather(const Tensor& x, int dim, const Tensor& index) {
  const char* op = "gather";
  check_index_tensor(op, x, index);
  IQA_CHECK(x.dim() >= 1 && index.dim() == x.dim(), op, ": index ", index.str(), " must have the rank of input ",
            x.str());
  IQA_CHECK(x.dim() <= kMaxDims, op, ": at most ", kMaxDims, " dims, got ", x.str());
  int d = wrap_dim(dim, x.dim(), "gather: dim");
  for (int k = 0; k < x.dim(); ++k)
    IQA_CHECK(k == d || index.shape()[k] <= x.shape()[k], op, ": index ", index.str(), " is larger than input ",
              x.str(), " in dim ", k);
  Tensor xc = x.detach().contiguous(), ic = index.detach().contiguous();
  check_index_range(op, ic, x.shape()[d], d, x);
  kernels::GatherLayout l;
  l.ndim = x.dim();
  l.dim = d;
  l.src_size = x.shape()[d];
  Shape xs = contiguous_strides(x.shape());
  for (int k = 0; k < x.dim(); ++k) {
    l.index_shape[k] = index.shape()[k];
    l.x_strides[k] = xs[k];
  }
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  const int64_t n = out.numel();
  if (n > 0) {
    if (x.device().is_cpu())
      kernels::cpu::gather(x.dtype(), l, xc.raw_data(), ic.raw_data(), ic.dtype(), out.raw_data(), n);
    else IQA_ON_CUDA(kernels::cuda::gather(x.dtype(), l, xc.raw_data(), ic.raw_data(), ic.dtype(), out.raw_data(), n,
                                          cuda::current_stream()));
  }
  const DType dt = x.dtype();
  const Shape in_shape = x.shape();
  record(op, out, {x}, [=](const Tensor& grad) {
    check_compute_dtype("gather backward", grad);
    Tensor gy = grad.detach().to(grad.is_cuda() ? grad.dtype() : dt).contiguous();
    Tensor acc = adjoint_accumulator(in_shape, dt, gy.device());
    if (n > 0) {
      if (gy.device().is_cpu())
        kernels::cpu::scatter_add(dt, l, gy.raw_data(), ic.raw_data(), ic.dtype(), acc.raw_data(), n);
      else IQA_ON_CUDA(kernels::cuda::scatter_add(gy.dtype(), l, gy.raw_data(), ic.raw_data(), ic.dtype(),
                                                 acc.data<float>(), n, cuda::current_stream()));
    }
    return std::vector<Tensor>{acc.to(dt)};
  });
  return out;
}

}  // namespace iqa
