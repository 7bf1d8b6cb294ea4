// Neural-network modules with named parameters and buffers. Names follow PyTorch exactly: a
// module's own parameters, then its own buffers, then each child under "child_name.", in
// registration order ("0.weight" inside a Sequential, "bn.running_mean"), so state dicts load
// straight from PyTorch checkpoints exported as safetensors.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace iqa {

// Same alias as engine/safetensors.h (identical redeclaration is allowed): ordered (name, tensor).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // For error messages and printing ("Linear", "Sequential", ...).
  virtual std::string type_name() const = 0;
  // Single-tensor forward (what Sequential chains). Modules with other signatures define their own
  // methods and leave this throwing.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  NamedTensors named_parameters() const;  // recursive, dotted names
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters and buffers, in PyTorch's order (detached views sharing storage).
  NamedTensors state_dict() const;
  // Copies values into the existing tensors (dtype converted, device kept). strict: every name of
  // the module must be present and no extra names allowed. Shape mismatches always throw. All
  // problems are collected into one error message.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  void load_state_dict(const NamedTensors& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every parameter and buffer in place: the Tensor objects handed out before stay valid
  // and see the new storage. Gradients move along.
  void to(Device device);
  // Converts floating parameters and buffers (integer buffers such as num_batches_tracked keep
  // their dtype). Gradients are dropped.
  void to(DType dtype);
  void zero_grad();  // drops .grad of every parameter (set_to_none, PyTorch's default)

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  // Registers `t` as a parameter (requires_grad set) and returns the shared handle.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  // Called after load_state_dict copied values (e.g. BatchNorm re-reads its batch counter).
  virtual void after_load_state_dict() {}

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;
  template <class F>
  void for_each_tensor(F&& f);

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// ---- layers (engine/nn_layers.cpp) ----

// y = x W^T + b. Init as PyTorch: W, b ~ U(-1/sqrt(in), 1/sqrt(in)) from the default generator.
// Under autocast (engine/amp.h) input and weights are cast to the autocast dtype on CUDA.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // bias undefined when bias=false
  int64_t in_features, out_features;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool elementwise_affine = true);
  std::string type_name() const override { return "LayerNorm"; }
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  double eps;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride = 1, int padding = 0,
         int dilation = 1, int groups = 1, bool bias = true);
  std::string type_name() const override { return "Conv2d"; }
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int stride, padding, dilation, groups;
};

// Buffers running_mean (zeros), running_var (ones), num_batches_tracked (i64 scalar).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  std::string type_name() const override { return "BatchNorm2d"; }
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;

 protected:
  void after_load_state_dict() override { batches_seen_ = -1; }

 private:
  int64_t batches_seen_ = 0;  // host mirror of num_batches_tracked (-1: re-read it)
};

enum class Activation { ReLU, GELU, GELUTanh, QuickGELU, Tanh, Sigmoid, Identity };
Tensor apply_activation(Activation a, const Tensor& x);

// A parameter-free activation as a module (nn.ReLU, nn.GELU, ...).
class ActivationLayer : public Module {
 public:
  explicit ActivationLayer(Activation a) : activation(a) {}
  std::string type_name() const override;
  Tensor forward(const Tensor& x) override { return apply_activation(activation, x); }
  Activation activation;
};

// Children named "0", "1", ...; forward chains them.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  std::string type_name() const override { return "Sequential"; }
  Tensor forward(const Tensor& x) override;
  void push_back(std::shared_ptr<Module> m);
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const;
};

// Linear -> act -> ... -> Linear as a Sequential, so names are "0.weight", "2.weight", ... exactly
// like nn.Sequential(nn.Linear, nn.ReLU, ...). No activation after the last layer.
class MLP : public Sequential {
 public:
  MLP(int64_t in_features, const std::vector<int64_t>& hidden, int64_t out_features,
      Activation activation = Activation::ReLU);
  std::string type_name() const override { return "MLP"; }
};

}  // namespace iqa
