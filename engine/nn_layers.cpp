// The standard layers: Linear, LayerNorm, Conv2d, BatchNorm2d, activations, Sequential, MLP.
#include <cmath>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/nn.h"
#include "engine/random.h"

namespace iqa {

namespace {
// U(-bound, bound) from the default Philox generator, like PyTorch's kaiming_uniform_(a=sqrt(5))
// (whose bound works out to 1/sqrt(fan_in)) and its bias init.
Tensor uniform(const Shape& shape, double bound) {
  NoGradGuard ng;
  Tensor u = Tensor::rand(shape);
  return add(mul(u, 2 * bound), -bound);
}

// LayerNorm keeps its statistics in f32 inside the kernel, so a bf16/f16 activation is normalised
// in its own dtype with the affine parameters cast to match.
Tensor match_dtype(const Tensor& p, const Tensor& x) {
  if (!p.defined() || p.dtype() == x.dtype()) return p;
  return p.to(x.dtype());
}
}  // namespace

// ---------------------------------------------------------------- Linear
Linear::Linear(int64_t in, int64_t out, bool has_bias) : in_features(in), out_features(out) {
  IQA_CHECK(in > 0 && out > 0, "Linear: in_features ", in, " and out_features ", out, " must be positive");
  double bound = 1.0 / std::sqrt(double(in));
  weight = register_parameter("weight", uniform({out, in}, bound));
  if (has_bias) bias = register_parameter("bias", uniform({out}, bound));
}

Tensor Linear::forward(const Tensor& x) {
  IQA_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear(", in_features, " -> ", out_features, "): input ",
            x.str(), " must end in ", in_features);
  return linear(amp::autocast(x), amp::autocast(weight), amp::autocast(bias));
}

// ---------------------------------------------------------------- LayerNorm
LayerNorm::LayerNorm(int64_t dim, double eps_, bool affine) : eps(eps_) {
  IQA_CHECK(dim > 0, "LayerNorm: dim ", dim, " must be positive");
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({dim}));
    bias = register_parameter("bias", Tensor::zeros({dim}));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, match_dtype(weight, x), match_dtype(bias, x), eps);
}

// ---------------------------------------------------------------- Conv2d
Conv2d::Conv2d(int64_t cin, int64_t cout, int k, int stride_, int padding_, int dilation_, int groups_, bool has_bias)
    : stride(stride_), padding(padding_), dilation(dilation_), groups(groups_) {
  IQA_CHECK(cin > 0 && cout > 0 && k > 0 && groups_ > 0, "Conv2d: bad sizes in=", cin, " out=", cout, " k=", k,
            " groups=", groups_);
  IQA_CHECK(cin % groups_ == 0 && cout % groups_ == 0, "Conv2d: channels in=", cin, " out=", cout,
            " must divide by groups=", groups_);
  int64_t fan_in = cin / groups_ * k * k;
  double bound = 1.0 / std::sqrt(double(fan_in));
  weight = register_parameter("weight", uniform({cout, cin / groups_, k, k}, bound));
  if (has_bias) bias = register_parameter("bias", uniform({cout}, bound));
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(amp::autocast(x), amp::autocast(weight), amp::autocast(bias), stride, padding, dilation, groups);
}

// ---------------------------------------------------------------- BatchNorm2d
BatchNorm2d::BatchNorm2d(int64_t c, double eps_, double momentum_) : eps(eps_), momentum(momentum_) {
  IQA_CHECK(c > 0, "BatchNorm2d: num_features ", c, " must be positive");
  weight = register_parameter("weight", Tensor::ones({c}));
  bias = register_parameter("bias", Tensor::zeros({c}));
  running_mean = register_buffer("running_mean", Tensor::zeros({c}));
  running_var = register_buffer("running_var", Tensor::ones({c}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) {
    // A host mirror avoids a device->host read per layer per step; fill_ is an async kernel on CUDA.
    if (batches_seen_ < 0) batches_seen_ = int64_t(num_batches_tracked.item());
    num_batches_tracked.fill_(double(++batches_seen_));
  }
  // Batch statistics in f32 (PyTorch's autocast runs batch norm in fp32 as well).
  return batch_norm2d(amp::autocast_to_f32(x), weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

// ---------------------------------------------------------------- activations
Tensor apply_activation(Activation a, const Tensor& x) {
  switch (a) {
    case Activation::ReLU: return relu(x);
    case Activation::GELU: return gelu(x, GeluApprox::None);
    case Activation::GELUTanh: return gelu(x, GeluApprox::Tanh);
    case Activation::QuickGELU: return quick_gelu(x);
    case Activation::Tanh: return tanh(x);
    case Activation::Sigmoid: return sigmoid(x);
    case Activation::Identity: return x;
  }
  fail("apply_activation: unknown activation");
}

std::string ActivationLayer::type_name() const {
  switch (activation) {
    case Activation::ReLU: return "ReLU";
    case Activation::GELU: return "GELU";
    case Activation::GELUTanh: return "GELU(tanh)";
    case Activation::QuickGELU: return "QuickGELU";
    case Activation::Tanh: return "Tanh";
    case Activation::Sigmoid: return "Sigmoid";
    case Activation::Identity: return "Identity";
  }
  return "Activation";
}

// ---------------------------------------------------------------- Sequential, MLP
Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> m) { register_module(std::to_string(size()), std::move(m)); }

Module& Sequential::operator[](size_t i) const {
  IQA_CHECK(i < size(), "Sequential: index ", i, " out of range for ", size(), " modules");
  return *children()[i].second;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [_, m] : children()) h = m->forward(h);
  return h;
}

MLP::MLP(int64_t in, const std::vector<int64_t>& hidden, int64_t out, Activation activation) {
  int64_t prev = in;
  for (int64_t h : hidden) {
    push_back(std::make_shared<Linear>(prev, h));
    push_back(std::make_shared<ActivationLayer>(activation));
    prev = h;
  }
  push_back(std::make_shared<Linear>(prev, out));
}

}  // namespace iqa
