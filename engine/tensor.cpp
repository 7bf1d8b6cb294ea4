#include "engine/tensor.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "engine/autograd.h"
#include "engine/cuda_runtime.h"
#include "engine/host_reads.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/tensor_basics.h"

namespace iqa {

// ---------------------------------------------------------------- shapes
std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}
int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}
Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int i = int(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}
int wrap_dim(int dim, int ndim, const char* what) {
  int d = dim < 0 ? dim + ndim : dim;
  IQA_CHECK(d >= 0 && d < (ndim == 0 ? 1 : ndim), what, " ", dim, " out of range for a ", ndim, "-d tensor");
  return d;
}

Generator& default_generator() {
  static Generator g;
  return g;
}
void manual_seed(uint64_t seed) { default_generator() = Generator{seed, 0}; }

// ---------------------------------------------------------------- storage
std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->device = device;
  if (device.is_cpu()) {
    size_t rounded = (nbytes + 63) / 64 * 64;  // aligned_alloc needs a multiple of the alignment
    s->data = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    IQA_CHECK(s->data != nullptr, "out of host memory allocating ", nbytes, " bytes");
  } else {
    s->data = cuda::allocate(nbytes);
  }
  return s;
}
std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->nbytes = nbytes;
  s->device = device;
  s->owned = false;
  s->keep_alive = std::move(owner);
  return s;
}
Storage::~Storage() {
  if (!owned || !data) return;
  if (device.is_cpu()) std::free(data);
  else cuda::deallocate(data);
}

// ---------------------------------------------------------------- helpers
namespace {
kernels::StridedLayout layout_of(const Tensor& t) {
  // Coalesce: drop size-1 dims and merge dims that are contiguous with each other.
  kernels::StridedLayout l;
  std::vector<std::pair<int64_t, int64_t>> dims;
  for (int d = 0; d < t.dim(); ++d)
    if (t.shape()[d] != 1) dims.push_back({t.shape()[d], t.strides()[d]});
  std::vector<std::pair<int64_t, int64_t>> merged;
  for (auto& [sz, st] : dims) {
    if (!merged.empty() && merged.back().second == sz * st) {
      merged.back().first *= sz;
      merged.back().second = st;
    } else {
      merged.push_back({sz, st});
    }
  }
  IQA_CHECK(int(merged.size()) <= kMaxDims, "tensor view ", t.str(), " has more than ", kMaxDims,
            " non-mergeable dims");
  l.ndim = int(merged.size());
  for (int i = 0; i < l.ndim; ++i) {
    l.shape[i] = merged[i].first;
    l.strides[i] = merged[i].second;
  }
  return l;
}

Tensor make_tensor(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) IQA_CHECK(d >= 0, "negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(impl);
}

void check_float_on_device(DType dtype, Device device, const char* what) {
  IQA_CHECK(device.is_cpu() || dtype != DType::F64, what, ": f64 tensors live on the CPU only");
  if (device.is_cuda()) IQA_CHECK(cuda::available(), what, ": ", cuda::unavailable_reason());
}
}  // namespace

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl().storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

// ---------------------------------------------------------------- factories
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_float_on_device(dtype, device, "Tensor::empty");
  return make_tensor(shape, dtype, device);
}
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::arange(double start, double end, double step, DType dtype, Device device) {
  IQA_CHECK(step != 0, "arange: step must be non-zero");
  int64_t n = int64_t(std::ceil((end - start) / step));
  if (n < 0) n = 0;
  Tensor t = empty({n}, dtype, device);
  if (device.is_cpu()) kernels::cpu::arange(t.raw_data(), dtype, n, start, step);
#ifdef IQA_WITH_CUDA
  else kernels::cuda::arange(t.raw_data(), dtype, n, start, step, cuda::current_stream());
#endif
  return t;
}
namespace {
// One draw per element from the default generator's stream (seed, offset), so CPU and CUDA tensors of
// the same shape get the same values.
Tensor random_tensor(bool normal, const Shape& shape, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  uint64_t off = default_generator().take(uint64_t(t.numel()));
  uint64_t seed = default_generator().seed;
  if (device.is_cpu()) {
    auto fill = normal ? kernels::cpu::fill_normal : kernels::cpu::fill_uniform;
    fill(t.raw_data(), dtype, t.numel(), seed, off);
  }
#ifdef IQA_WITH_CUDA
  else {
    auto fill = normal ? kernels::cuda::fill_normal : kernels::cuda::fill_uniform;
    fill(t.raw_data(), dtype, t.numel(), seed, off, cuda::current_stream());
  }
#endif
  return t;
}
}  // namespace

Tensor Tensor::rand(const Shape& shape, DType dtype, Device device) { return random_tensor(false, shape, dtype, device); }
Tensor Tensor::randn(const Shape& shape, DType dtype, Device device) { return random_tensor(true, shape, dtype, device); }

namespace {
template <class V>
Tensor from_host(const std::vector<V>& v, const Shape& shape, DType host_dtype, DType dtype, Device device) {
  IQA_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector: ", v.size(), " values for shape ",
            shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::wrap(const_cast<V*>(v.data()), v.size() * sizeof(V), kCPU, nullptr);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = host_dtype;
  Tensor host(impl);
  Tensor out = Tensor::empty(shape, dtype, device);
  out.copy_(host);
  return out;
}
}  // namespace
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape, DType dtype, Device device) {
  return from_host(v, shape, DType::F32, dtype, device);
}
Tensor Tensor::from_vector_f64(const std::vector<double>& v, const Shape& shape, DType dtype, Device device) {
  return from_host(v, shape, DType::F64, dtype, device);
}
Tensor Tensor::from_vector_i64(const std::vector<int64_t>& v, const Shape& shape, DType dtype, Device device) {
  return from_host(v, shape, DType::I64, dtype, device);
}

// ---------------------------------------------------------------- metadata
int64_t Tensor::size(int d) const { return shape()[wrap_dim(d, dim(), "size: dim")]; }
bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int d = dim() - 1; d >= 0; --d) {
    if (shape()[d] != 1 && strides()[d] != expect) return false;
    expect *= shape()[d];
  }
  return true;
}
std::string Tensor::str() const {
  if (!defined()) return "Tensor[undefined]";
  return cat("Tensor[", dtype_name(dtype()), ", ", device().str(), ", ", shape_str(shape()), "]");
}
void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data) + offset() * int64_t(dtype_size(dtype()));
}

namespace {
thread_local int64_t host_read_count = 0;

// The values in logical order, as `dt`, on the host: one host read (a CUDA tensor's is counted by
// the device-to-host copy inside to()).
Tensor host_values(const Tensor& t, DType dt) {
  if (t.device().is_cpu()) ++host_read_count;
  return t.detach().to(kCPU, dt).contiguous();
}
}  // namespace

int64_t host_reads() { return host_read_count; }

std::vector<double> Tensor::to_vector_f64() const {
  Tensor c = host_values(*this, DType::F64);
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}
std::vector<float> Tensor::to_vector() const {
  Tensor c = host_values(*this, DType::F32);
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}
std::vector<int64_t> Tensor::to_vector_i64() const {
  Tensor c = host_values(*this, DType::I64);
  const int64_t* p = c.data<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}
double Tensor::item() const {
  IQA_CHECK(numel() == 1, "item() on ", str(), ": needs exactly one element");
  return to_vector_f64()[0];
}

// ---------------------------------------------------------------- in-place
void Tensor::copy_(const Tensor& src) {
  IQA_CHECK(src.shape() == shape(), "copy_: source shape ", shape_str(src.shape()), " != destination ",
            shape_str(shape()));
  if (numel() == 0) return;
  // Bring the source to this device with its own dtype, then convert while writing.
  Tensor s = src;
  if (!(s.device() == device())) {
    Tensor sc = s.contiguous();
    Tensor moved = make_tensor(sc.shape(), sc.dtype(), device());
    if (sc.device().is_cpu()) cuda::copy_h2d(moved.raw_data(), sc.raw_data(), sc.nbytes());
    else if (device().is_cpu()) {
      ++host_read_count;
      cuda::copy_d2h(moved.raw_data(), sc.raw_data(), sc.nbytes());
    }
    else cuda::copy_d2d(moved.raw_data(), sc.raw_data(), sc.nbytes());
    s = moved;
  }
  // Both layouts are coalesced independently; each still enumerates elements in logical order.
  auto sl = layout_of(s);
  auto dl = layout_of(*this);
  if (device().is_cpu())
    kernels::cpu::copy_cast(s.raw_data(), s.dtype(), sl, raw_data(), dtype(), dl, numel());
#ifdef IQA_WITH_CUDA
  else
    kernels::cuda::copy_cast(s.raw_data(), s.dtype(), sl, raw_data(), dtype(), dl, numel(), cuda::current_stream());
#endif
}

void Tensor::fill_(double value) {
  IQA_CHECK(is_contiguous(), "fill_ on a non-contiguous view ", str());
  if (device().is_cpu()) kernels::cpu::fill(raw_data(), dtype(), numel(), value);
#ifdef IQA_WITH_CUDA
  else kernels::cuda::fill(raw_data(), dtype(), numel(), value, cuda::current_stream());
#endif
}

// ---------------------------------------------------------------- autograd surface
Tensor& Tensor::set_requires_grad(bool r) {
  IQA_CHECK(!r || is_floating(dtype()), "requires_grad on a non-floating tensor ", str());
  impl().requires_grad = r;
  return *this;
}
Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
void Tensor::set_grad(const Tensor& g) { impl().grad = g.defined() ? g.impl_ptr() : nullptr; }
void Tensor::zero_grad() { impl().grad = nullptr; }
void Tensor::retain_grad() { impl().retains_grad = true; }
void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }
Tensor Tensor::detach() const {
  auto impl2 = std::make_shared<TensorImpl>();
  impl2->storage = impl().storage;
  impl2->shape = shape();
  impl2->strides = strides();
  impl2->offset = offset();
  impl2->dtype = dtype();
  return Tensor(impl2);
}

}  // namespace iqa
