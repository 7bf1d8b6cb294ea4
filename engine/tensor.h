// Tensor: a view (shape, strides, offset) onto a reference-counted Storage, plus autograd state.
// Copying a Tensor is cheap and shares everything (like torch.Tensor). Ops live in engine/ops.h.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "kernels/common.h"

namespace iqa {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

// A block of memory on one device. Frees itself (CPU: aligned free; CUDA: caching allocator).
// A Storage may also wrap memory it does not own (e.g. an mmap'ed safetensors file), kept alive by
// `keep_alive`.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::shared_ptr<void> keep_alive;  // non-null when the memory belongs to someone else
  bool owned = true;

  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner);
  ~Storage();
};

struct Node;  // autograd node (engine/autograd.h)
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;
  DType dtype = DType::F32;

  // autograd
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;         // set on outputs of differentiable ops
  std::shared_ptr<TensorImpl> grad;      // accumulated gradient (leaves, or retain_grad)
  bool retains_grad = false;
  std::string name;                      // optional, for error messages
  // Called by backward right after it writes this tensor's .grad, so data-parallel training can start
  // reducing a gradient while the rest of backward runs (dist::GradientSynchronizer). Empty by default.
  std::function<void(TensorImpl&)> post_accumulate_grad_hook;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = kCPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = kCPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = kCPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = kCPU);
  static Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::F32,
                       Device device = kCPU);
  // Uniform [0,1) / standard normal from Philox at the global generator's (seed, offset), or the
  // generator given. Identical numbers on CPU and CUDA.
  static Tensor rand(const Shape& shape, DType dtype = DType::F32, Device device = kCPU);
  static Tensor randn(const Shape& shape, DType dtype = DType::F32, Device device = kCPU);
  // Copies host values (converted to dtype) into a new tensor.
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape, DType dtype = DType::F32,
                            Device device = kCPU);
  static Tensor from_vector_f64(const std::vector<double>& v, const Shape& shape, DType dtype = DType::F64,
                                Device device = kCPU);
  static Tensor from_vector_i64(const std::vector<int64_t>& v, const Shape& shape,
                                DType dtype = DType::I64, Device device = kCPU);
  static Tensor scalar(double v, DType dtype = DType::F32, Device device = kCPU) {
    return full({}, v, dtype, device);
  }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int dim() const { return int(impl().shape.size()); }
  int64_t size(int d) const;
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device; }
  bool is_cuda() const { return device().is_cuda(); }
  bool is_contiguous() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  std::string str() const;  // "Tensor[f32, cpu, (2, 3)]"

  // Raw pointer to element 0 of this view (storage base + offset).
  void* raw_data() const;
  template <class T>
  T* data() const { return static_cast<T*>(raw_data()); }
  // Value of a one-element tensor, converted to double (copies from the GPU).
  double item() const;
  // All elements in logical (row-major) order, converted (copies from the GPU).
  std::vector<float> to_vector() const;
  std::vector<double> to_vector_f64() const;
  std::vector<int64_t> to_vector_i64() const;

  // ---- views (share storage; differentiable) ----
  Tensor view(const Shape& shape) const;      // requires compatible strides
  Tensor reshape(const Shape& shape) const;   // view when possible, else a copy
  Tensor permute(const std::vector<int>& dims) const;
  Tensor transpose(int d0, int d1) const;
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int dim, int64_t index) const;  // drops dim
  Tensor expand(const Shape& shape) const;      // -1 keeps a size; size-1 dims broadcast
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;
  Tensor flatten(int start_dim = 0, int end_dim = -1) const;
  Tensor contiguous() const;                    // self if already contiguous
  Tensor clone() const;                         // always a fresh contiguous copy

  // ---- conversion (differentiable for floating dtypes) ----
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor to(Device device, DType dtype) const;
  Tensor cpu() const { return to(kCPU); }

  // ---- in-place, not recorded by autograd (for optimizers, init, buffers) ----
  void copy_(const Tensor& src);   // same shape; any dtype/device
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool r = true);
  Tensor grad() const;             // undefined Tensor if none yet
  void set_grad(const Tensor& g);
  void zero_grad();                // drops .grad
  void retain_grad();
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // Back-propagates from this scalar (or with an explicit upstream gradient).
  void backward(const Tensor& grad_output = Tensor()) const;
  // Same storage, no history.
  Tensor detach() const;

  TensorImpl& impl() const {
    IQA_CHECK(impl_ != nullptr, "use of an undefined Tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same_impl(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A view of `base`'s storage with new geometry and no autograd history.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// Normalises a possibly negative dim against ndim; throws naming `what` when out of range.
int wrap_dim(int dim, int ndim, const char* what = "dim");

}  // namespace iqa
