// Modules: PyTorch names, state dicts, init, train/eval, dtype/device moves, layers' forward.
#include <cmath>

#include "engine/amp.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {
// A model with every kind of member, nested, to pin down the naming order.
struct Net : Module {
  Net() {
    scale = register_parameter("scale", Tensor::ones({1}));
    pos = register_buffer("pos", Tensor::zeros({2}));
    fc1 = register_module("fc1", std::make_shared<Linear>(4, 3));
    body = register_module("body", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                       std::make_shared<Linear>(3, 5), std::make_shared<ActivationLayer>(Activation::ReLU),
                                       std::make_shared<Linear>(5, 2, false)}));
    bn = register_module("bn", std::make_shared<BatchNorm2d>(3));
  }
  std::string type_name() const override { return "Net"; }
  Tensor scale, pos;
  std::shared_ptr<Linear> fc1;
  std::shared_ptr<Sequential> body;
  std::shared_ptr<BatchNorm2d> bn;
};

std::vector<std::string> names_of(const NamedTensors& nt) {
  std::vector<std::string> out;
  for (auto& [n, _] : nt) out.push_back(n);
  return out;
}
}  // namespace

TEST_CASE("state_dict and named_parameters use PyTorch's dotted names and order", "[nn]") {
  Net net;
  REQUIRE(names_of(net.state_dict()) ==
          std::vector<std::string>{"scale", "pos", "fc1.weight", "fc1.bias", "body.0.weight", "body.0.bias",
                                   "body.2.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                                   "bn.num_batches_tracked"});
  REQUIRE(names_of(net.named_parameters()) ==
          std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "body.0.weight", "body.0.bias", "body.2.weight",
                                   "bn.weight", "bn.bias"});
  REQUIRE(names_of(net.named_buffers()) ==
          std::vector<std::string>{"pos", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"});
  auto sd = net.state_dict();
  REQUIRE(sd.back().second.dtype() == DType::I64);
  REQUIRE(sd.back().second.dim() == 0);
  for (auto& p : net.parameters()) REQUIRE(p.requires_grad());
  // The state dict shares storage with the module (like PyTorch's).
  REQUIRE(sd[2].second.data<float>() == net.fc1->weight.data<float>());

  MLP mlp(8, {64, 64}, 1);
  REQUIRE(names_of(mlp.state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias",
                                                                  "4.weight", "4.bias"});
  REQUIRE(mlp.size() == 5);
  REQUIRE(mlp[4].type_name() == "Linear");
}

TEST_CASE("load_state_dict copies values and reports every problem at once", "[nn]") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  REQUIRE(a.fc1->weight.to_vector() != b.fc1->weight.to_vector());
  auto sd = a.state_dict();
  b.load_state_dict(sd);
  REQUIRE(a.fc1->weight.to_vector() == b.fc1->weight.to_vector());
  REQUIRE(a.body->state_dict()[2].second.to_vector() == b.body->state_dict()[2].second.to_vector());

  std::map<std::string, Tensor> m;
  for (auto& [n, t] : sd) m[n] = t;
  m.erase("fc1.bias");
  m["extra.weight"] = Tensor::zeros({1});
  m["body.0.weight"] = Tensor::zeros({5, 4});
  try {
    b.load_state_dict(m);
    FAIL("load_state_dict accepted a bad state dict");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO(msg);
    REQUIRE(msg.find("missing keys [fc1.bias]") != std::string::npos);
    REQUIRE(msg.find("unexpected keys [extra.weight]") != std::string::npos);
    REQUIRE(msg.find("body.0.weight (checkpoint (5, 4), model (5, 3))") != std::string::npos);
  }
  // Non-strict tolerates missing and unexpected names, never a wrong shape.
  REQUIRE_THROWS_AS(b.load_state_dict(m, false), Error);
  m["body.0.weight"] = Tensor::full({5, 3}, 0.25);
  b.load_state_dict(m, false);
  REQUIRE(b.body->state_dict()[0].second.to_vector() == std::vector<float>(15, 0.25f));
}

TEST_CASE("Linear and Conv2d draw PyTorch's default init from the Philox generator", "[nn]") {
  manual_seed(7);
  Linear lin(16, 3);
  manual_seed(7);
  Tensor w = Tensor::rand({3, 16}), b = Tensor::rand({3});
  std::vector<double> ew, eb;
  for (double u : w.to_vector_f64()) ew.push_back(u * 0.5 - 0.25);  // bound 1/sqrt(16) = 0.25
  for (double u : b.to_vector_f64()) eb.push_back(u * 0.5 - 0.25);
  require_close(lin.weight.to_vector_f64(), ew, 1e-6, 1e-7, "linear weight");
  require_close(lin.bias.to_vector_f64(), eb, 1e-6, 1e-7, "linear bias");

  Conv2d conv(6, 4, 3, 1, 1, 1, 2);  // fan_in = 6/2 * 9 = 27
  REQUIRE(conv.weight.shape() == Shape{4, 3, 3, 3});
  double bound = 1 / std::sqrt(27.0), worst = 0;
  for (double v : conv.weight.to_vector_f64()) worst = std::max(worst, std::abs(v));
  REQUIRE(worst <= bound);
  REQUIRE(worst > 0.8 * bound);  // 108 draws fill the interval
  REQUIRE_THROWS_AS(Conv2d(5, 4, 3, 1, 0, 1, 2), Error);
}

TEST_CASE("Linear forward matches x W^T + b in f64 and MLP gradients pass a gradcheck", "[nn]") {
  manual_seed(3);
  Linear lin(5, 4);
  lin.to(DType::F64);
  REQUIRE(lin.weight.dtype() == DType::F64);
  Tensor x = rand_f64({3, 5}, -1, 1, 4);
  auto xv = x.to_vector_f64(), wv = lin.weight.to_vector_f64(), bv = lin.bias.to_vector_f64();
  std::vector<double> expect(12);
  for (int i = 0; i < 3; ++i)
    for (int o = 0; o < 4; ++o) {
      double acc = bv[o];
      for (int k = 0; k < 5; ++k) acc += xv[i * 5 + k] * wv[o * 5 + k];
      expect[i * 4 + o] = acc;
    }
  require_close(lin(x).to_vector_f64(), expect, 1e-12, 1e-12, "linear forward");

  manual_seed(5);
  MLP mlp(3, {6}, 2, Activation::Tanh);
  mlp.to(DType::F64);
  std::vector<Tensor> inputs{rand_f64({4, 3}, -1, 1, 6)};
  for (auto& p : mlp.parameters()) inputs.push_back(p);
  gradcheck([&](const std::vector<Tensor>& in) { return mlp(in[0]); }, inputs);
}

TEST_CASE("train/eval recurse, BatchNorm2d tracks batches and running statistics", "[nn]") {
  Net net;
  REQUIRE(net.bn->is_training());
  net.eval();
  REQUIRE_FALSE(net.bn->is_training());
  REQUIRE_FALSE(net.body->is_training());
  net.train();
  REQUIRE(net.fc1->is_training());

  BatchNorm2d bn(2);
  // Channel 0 holds 1..8 (mean 4.5), channel 1 holds -1 everywhere (mean -1).
  std::vector<float> xv;
  for (int n = 0; n < 2; ++n) {
    for (int i = 0; i < 4; ++i) xv.push_back(float(n * 4 + i + 1));
    for (int i = 0; i < 4; ++i) xv.push_back(-1.0f);
  }
  Tensor x = Tensor::from_vector(xv, {2, 2, 2, 2});
  bn(x);
  bn(x);
  REQUIRE(bn.num_batches_tracked.item() == 2.0);
  // r = 0.9 r + 0.1 m twice from 0: 0.19 m.
  require_close(bn.running_mean.to_vector_f64(), {0.19 * 4.5, 0.19 * -1.0}, 1e-5, 1e-6, "running mean");
  bn.eval();
  bn(x);
  REQUIRE(bn.num_batches_tracked.item() == 2.0);
  // Loading a state dict resets the host-side counter to the loaded value.
  BatchNorm2d other(2);
  other.load_state_dict(bn.state_dict());
  other(x);
  REQUIRE(other.num_batches_tracked.item() == 3.0);
}

TEST_CASE("to(dtype) converts in place and keeps handles valid", "[nn]") {
  Net net;
  Tensor handle = net.fc1->weight;  // taken before the move
  Adam opt({ParamGroup{net.parameters(), 0.1}});
  net.to(DType::F64);
  REQUIRE(handle.dtype() == DType::F64);
  REQUIRE(net.fc1->weight.same_impl(handle));
  REQUIRE(net.bn->num_batches_tracked.dtype() == DType::I64);
  REQUIRE(net.state_dict()[0].second.dtype() == DType::F64);
  REQUIRE_THROWS_AS(net.to(DType::I32), Error);
  // A module's single-tensor forward that does not exist says so.
  REQUIRE_THROWS_WITH(net(Tensor::zeros({1})), Catch::Contains("Net has no single-tensor forward"));
}

TEST_CASE("Module::to(cuda) moves parameters in place, autocast runs Linear in bf16", "[nn][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  manual_seed(9);
  MLP mlp(13, {31}, 3, Activation::GELU);
  Tensor x = Tensor::randn({7, 13});
  Tensor ref = mlp(x);
  Tensor w0 = static_cast<Linear&>(mlp[0]).weight;
  Adam opt({ParamGroup{mlp.parameters(), 1e-3}});
  mlp.to(cuda_device());
  REQUIRE(w0.is_cuda());
  Tensor y = mlp(x.to(cuda_device()));
  require_close(y.cpu(), ref, 1e-5, 1e-5, "mlp on cuda");

  Tensor y_bf16;
  {
    amp::AutocastGuard autocast(DType::BF16);
    y_bf16 = mlp(x.to(cuda_device()));
  }
  REQUIRE(y_bf16.dtype() == DType::BF16);
  require_close(y_bf16.cpu(), ref, 3e-2, 3e-2, "mlp under autocast");
  sum(y_bf16.to(DType::F32)).backward();
  REQUIRE(w0.grad().dtype() == DType::F32);
  REQUIRE(w0.grad().is_cuda());
  opt.step();  // the optimizer built before the move updates the moved parameters
  mlp.to(kCPU);
  REQUIRE(w0.device().is_cpu());
}
