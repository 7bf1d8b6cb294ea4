// View operations (share storage) and device/dtype conversion, each with its backward rule.
#include <algorithm>
#include <numeric>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/tensor.h"

namespace iqa {

namespace {
// Infers a single -1 in a requested shape.
Shape infer_shape(Shape shape, int64_t numel, const Tensor& t) {
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < int(shape.size()); ++i) {
    if (shape[i] == -1) {
      IQA_CHECK(infer < 0, "view/reshape: more than one -1 in ", shape_str(shape));
      infer = i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    IQA_CHECK(known > 0 && numel % known == 0, "view/reshape: cannot infer -1 in ", shape_str(shape), " for ",
              t.str());
    shape[infer] = numel / known;
  }
  IQA_CHECK(shape_numel(shape) == numel, "view/reshape: shape ", shape_str(shape), " is invalid for ", t.str());
  return shape;
}

// Strides for viewing `t` as `shape` without a copy, if possible (PyTorch's computeStride logic).
bool view_strides(const Tensor& t, const Shape& shape, Shape& out) {
  const Shape& old = t.shape();
  const Shape& ost = t.strides();
  out.assign(shape.size(), 0);
  if (t.numel() == 0 || old.empty()) {  // empty or 0-d: any shape of the same numel is a view
    out = contiguous_strides(shape);
    return true;
  }
  int view_d = int(shape.size()) - 1;
  int64_t chunk_base_stride = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int td = int(old.size()) - 1; td >= 0; --td) {
    tensor_numel *= old[td];
    if (td == 0 || (old[td - 1] != 1 && ost[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (td > 0) {
        chunk_base_stride = ost[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return false;
  return true;
}
}  // namespace

Tensor Tensor::view(const Shape& shape_in) const {
  Shape shape = infer_shape(shape_in, numel(), *this);
  Shape st;
  IQA_CHECK(view_strides(*this, shape, st), "view: ", str(), " cannot be viewed as ", shape_str(shape),
            " without a copy; use reshape()");
  Tensor out = make_view(*this, shape, st, offset());
  Shape in_shape = this->shape();
  record("view", out, {*this}, [in_shape](const Tensor& g) { return std::vector<Tensor>{g.reshape(in_shape)}; });
  return out;
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  Shape shape = infer_shape(shape_in, numel(), *this);
  Shape st;
  if (view_strides(*this, shape, st)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  IQA_CHECK(int(dims.size()) == dim(), "permute: ", dims.size(), " dims given for ", str());
  Shape sh(dim()), st(dim());
  std::vector<int> inverse(dim(), -1);
  for (int i = 0; i < dim(); ++i) {
    int d = wrap_dim(dims[i], dim(), "permute: dim");
    IQA_CHECK(inverse[d] < 0, "permute: dim ", d, " repeated");
    inverse[d] = i;
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor out = make_view(*this, sh, st, offset());
  record("permute", out, {*this}, [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
  return out;
}

Tensor Tensor::transpose(int d0, int d1) const {
  std::vector<int> p(dim());
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[wrap_dim(d0, dim(), "transpose: dim")], p[wrap_dim(d1, dim(), "transpose: dim")]);
  return permute(p);
}

Tensor Tensor::slice(int dim_in, int64_t start, int64_t end, int64_t step) const {
  int d = wrap_dim(dim_in, dim(), "slice: dim");
  int64_t n = shape()[d];
  IQA_CHECK(step > 0, "slice: step must be positive");
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sh = shape(), st = strides();
  sh[d] = (end - start + step - 1) / step;
  st[d] = strides()[d] * step;
  Tensor out = make_view(*this, sh, st, offset() + start * strides()[d]);
  Shape in_shape = shape();
  DType dt = dtype();
  Device dev = device();
  record("slice", out, {*this}, [=](const Tensor& g) {
    Tensor gi = Tensor::zeros(in_shape, dt, dev);
    gi.slice(d, start, end, step).copy_(g);
    return std::vector<Tensor>{gi};
  });
  return out;
}

Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  int dd = wrap_dim(d, dim(), "narrow: dim");
  IQA_CHECK(start >= 0 && length >= 0 && start + length <= shape()[dd], "narrow: [", start, ", ", start + length,
            ") out of range for dim ", dd, " of ", str());
  return slice(dd, start, start + length);
}

Tensor Tensor::select(int d, int64_t index) const {
  int dd = wrap_dim(d, dim(), "select: dim");
  if (index < 0) index += shape()[dd];
  IQA_CHECK(index >= 0 && index < shape()[dd], "select: index ", index, " out of range for dim ", dd, " of ", str());
  return narrow(dd, index, 1).squeeze(dd);
}

Tensor Tensor::expand(const Shape& shape_in) const {
  IQA_CHECK(int(shape_in.size()) >= dim(), "expand: ", shape_str(shape_in), " has fewer dims than ", str());
  int lead = int(shape_in.size()) - dim();
  Shape sh(shape_in.size()), st(shape_in.size());
  for (int i = 0; i < int(shape_in.size()); ++i) {
    int src = i - lead;
    int64_t want = shape_in[i];
    if (src < 0) {
      IQA_CHECK(want >= 0, "expand: -1 not allowed for a new leading dim");
      sh[i] = want;
      st[i] = 0;
    } else {
      int64_t have = shape()[src];
      if (want == -1 || want == have) {
        sh[i] = have;
        st[i] = strides()[src];
      } else {
        IQA_CHECK(have == 1, "expand: dim ", src, " of ", str(), " has size ", have, ", cannot expand to ", want);
        sh[i] = want;
        st[i] = 0;
      }
    }
  }
  Tensor out = make_view(*this, sh, st, offset());
  Shape in_shape = shape();
  record("expand", out, {*this}, [in_shape](const Tensor& g) { return std::vector<Tensor>{sum_to_shape(g, in_shape)}; });
  return out;
}

Tensor Tensor::unsqueeze(int d) const {
  int dd = d < 0 ? d + dim() + 1 : d;
  IQA_CHECK(dd >= 0 && dd <= dim(), "unsqueeze: dim ", d, " out of range for ", str());
  Shape sh = shape();
  sh.insert(sh.begin() + dd, 1);
  return view(sh);
}

Tensor Tensor::squeeze(int d) const {
  int dd = wrap_dim(d, dim(), "squeeze: dim");
  if (shape()[dd] != 1) return *this;
  Shape sh = shape();
  sh.erase(sh.begin() + dd);
  return view(sh);
}

Tensor Tensor::flatten(int start_dim, int end_dim) const {
  if (dim() == 0) return reshape({1});
  int s = wrap_dim(start_dim, dim(), "flatten: start_dim"), e = wrap_dim(end_dim, dim(), "flatten: end_dim");
  Shape sh;
  for (int i = 0; i < s; ++i) sh.push_back(shape()[i]);
  int64_t m = 1;
  for (int i = s; i <= e; ++i) m *= shape()[i];
  sh.push_back(m);
  for (int i = e + 1; i < dim(); ++i) sh.push_back(shape()[i]);
  return reshape(sh);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  out.copy_(*this);
  record("clone", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::to(Device dev, DType dt) const {
  if (dev == device() && dt == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), dt, dev);
  out.copy_(*this);
  Device src_dev = device();
  DType src_dt = dtype();
  if (is_floating(dt) && is_floating(src_dt))
    record("to", out, {*this}, [src_dev, src_dt](const Tensor& g) { return std::vector<Tensor>{g.to(src_dev, src_dt)}; });
  return out;
}
Tensor Tensor::to(Device dev) const { return to(dev, dtype()); }
Tensor Tensor::to(DType dt) const { return to(device(), dt); }

}  // namespace iqa
