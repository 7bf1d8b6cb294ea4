// Reading the PyTorch parity fixtures of tools/make_fixtures.py and comparing a model against them.
#pragma once
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/amp.h"
#include "engine/nn.h"
#include "engine/safetensors.h"
#include "tests/fixture_paths.h"
#include "tests/testing.h"

namespace iqa::testing {

using TensorMap = std::map<std::string, Tensor>;

struct ModelFixture {
  TensorMap all;
  nlohmann::json config;

  // Every tensor whose name starts with `prefix`, with the prefix removed.
  TensorMap with_prefix(const std::string& prefix) const {
    TensorMap out;
    for (auto& [n, t] : all)
      if (n.compare(0, prefix.size(), prefix) == 0) out[n.substr(prefix.size())] = t;
    return out;
  }
  const Tensor& get(const std::string& name) const {
    auto it = all.find(name);
    if (it == all.end()) FAIL("fixture has no tensor " << name);
    return it->second;
  }
  int64_t cfg(const char* key) const { return config.at(key).get<int64_t>(); }
};

inline std::string fixture_path(const std::string& name) { return fixture_file("models/" + name + ".safetensors"); }

inline ModelFixture open_model_fixture(const std::string& name) {
  ModelFixture f;
  const std::string path = fixture_path(name);
  SafetensorsFile file = SafetensorsFile::open(path);
  for (auto& n : file.names()) f.all[n] = file.get(n);
  f.config = nlohmann::json::parse(file.metadata().at("config"));
  return f;
}

// max |got - want| / max |want|: relative error in the max norm, robust to elements near zero.
inline double max_rel_error(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  auto a = got.to_vector_f64(), b = want.to_vector_f64();
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::abs(a[i] - b[i]);
    num = std::isnan(d) ? INFINITY : std::max(num, d);
    den = std::max(den, std::abs(b[i]));
  }
  return den > 0 ? num / den : num;
}

inline void require_rel(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  double e = max_rel_error(got, want);
  INFO(what << ": relative error " << e << " (tolerance " << tol << ")");
  REQUIRE(e <= tol);
}

struct ParityOptions {
  Device device = kCPU;
  DType dtype = DType::F32;          // of the parameters and inputs
  std::optional<DType> autocast;     // CUDA mixed precision
  double output_tol = 1e-4, grad_tol = 1e-3;
};

using FixtureForward = std::function<TensorMap(const TensorMap& inputs)>;

// Runs `forward` on the fixture's inputs, compares every output, back-propagates the fixture's
// loss and compares the gradient of every parameter (names in `expected_grads`, already translated
// into the model's names) and of every input.
inline void check_parity(Module& model, const ModelFixture& f, const FixtureForward& forward,
                         const TensorMap& expected_grads, const ParityOptions& o) {
  model.to(o.dtype);
  model.to(o.device);
  model.zero_grad();
  TensorMap inputs;
  for (auto& [n, t] : f.with_prefix("input.")) {
    Tensor x = t.to(o.device, o.dtype).detach();
    x.set_requires_grad(true);
    inputs[n] = x;
  }
  TensorMap outputs;
  {
    std::optional<amp::AutocastGuard> guard;
    if (o.autocast) guard.emplace(*o.autocast);
    outputs = forward(inputs);
  }
  const TensorMap want = f.with_prefix("output.");
  REQUIRE(outputs.size() == want.size());
  Tensor loss;
  for (auto& [n, w] : want) {
    REQUIRE(outputs.count(n));
    Tensor out = outputs.at(n);
    if (out.dtype() != DType::F32 && out.dtype() != DType::F64) out = out.to(DType::F32);
    require_rel(out, w, o.output_tol, "output " + n);
    Tensor lw = f.get("loss_weight." + n).to(out.device(), out.dtype());
    Tensor term = sum(mul(out, lw));
    loss = loss.defined() ? add(loss, term) : term;
  }
  loss.backward();
  size_t checked = 0;
  for (auto& [n, p] : model.named_parameters()) {
    auto it = expected_grads.find(n);
    INFO("parameter " << n);
    REQUIRE(it != expected_grads.end());
    REQUIRE(p.grad().defined());
    require_rel(p.grad(), it->second, o.grad_tol, "gradient of " + n);
    ++checked;
  }
  REQUIRE(checked == expected_grads.size());
  for (auto& [n, x] : inputs) {
    REQUIRE(x.grad().defined());
    require_rel(x.grad(), f.get("grad_input." + n), o.grad_tol, "gradient of input " + n);
  }
}

}  // namespace iqa::testing
