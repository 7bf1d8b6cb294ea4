// Test helpers: closeness checks, finite-difference gradient checks, the [cuda] skip rule and a scratch
// directory.
#pragma once
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <functional>
#include <vector>

#include "engine/autograd.h"
#include "engine/cuda_runtime.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace iqa::testing {

// Skips the rest of a [cuda] test with the printed reason when no GPU can be used.
#define IQA_REQUIRE_CUDA_OR_SKIP()                                                  \
  do {                                                                              \
    if (!::iqa::cuda::available()) {                                                \
      WARN("skipping CUDA test: " << ::iqa::cuda::unavailable_reason());            \
      return;                                                                       \
    }                                                                               \
  } while (0)

// max |a-b| / (atol + rtol*|b|) <= 1 elementwise; reports the worst element.
inline void require_close(const std::vector<double>& a, const std::vector<double>& b, double rtol, double atol,
                          const char* what = "") {
  REQUIRE(a.size() == b.size());
  size_t worst = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double r = std::abs(a[i] - b[i]) / (atol + rtol * std::abs(b[i]));
    if (!(r <= worst_ratio)) {  // NaN-aware
      worst_ratio = std::isnan(r) ? INFINITY : r;
      worst = i;
    }
  }
  INFO(what << ": worst element " << worst << " got " << (a.empty() ? 0 : a[worst]) << " expected "
            << (b.empty() ? 0 : b[worst]));
  REQUIRE(worst_ratio <= 1.0);
}
inline void require_close(const Tensor& a, const Tensor& b, double rtol, double atol, const char* what = "") {
  REQUIRE(a.shape() == b.shape());
  require_close(a.to_vector_f64(), b.to_vector_f64(), rtol, atol, what);
}

// Random f64 tensor in [lo, hi) (deterministic per seed) that requires grad.
inline Tensor rand_f64(const Shape& shape, double lo = -1, double hi = 1, uint64_t seed = 1) {
  manual_seed(seed);
  Tensor u = Tensor::rand(shape, DType::F64);
  NoGradGuard ng;
  Tensor t = add(mul(u, hi - lo), lo);
  return t.detach().set_requires_grad(true);
}

// Finite-difference check of d(sum(f(inputs) * w))/d(inputs) in f64, with w a fixed random weighting
// so every output element matters. Central differences, eps 1e-6.
inline void gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                      double tol = 1e-5, double eps = 1e-6) {
  Tensor out0;
  {
    NoGradGuard ng;
    out0 = f(inputs);
  }
  manual_seed(12345);
  Tensor w = Tensor::rand(out0.shape(), DType::F64);
  for (auto& x : inputs) x.zero_grad();
  Tensor loss = sum(mul(f(inputs), w));
  loss.backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    REQUIRE(x.grad().defined());
    std::vector<double> analytic = x.grad().to_vector_f64();
    std::vector<double> numeric(size_t(x.numel()));
    double* p = x.data<double>();
    REQUIRE(x.is_contiguous());
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      NoGradGuard ng;
      p[i] = orig + eps;
      double lp = sum(mul(f(inputs), w)).item();
      p[i] = orig - eps;
      double lm = sum(mul(f(inputs), w)).item();
      p[i] = orig;
      numeric[size_t(i)] = (lp - lm) / (2 * eps);
    }
    INFO("gradient of input " << k);
    require_close(analytic, numeric, tol, tol, "gradcheck");
  }
}

// The whole file as bytes ("" when it cannot be opened).
inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The message of the iqa::Error that `f` throws, or "" when it returns without one.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A fresh empty folder under the system temp dir (unique per process and instance; `tag` names the
// test file in it), removed with everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "scratch") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("iqa_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  // Writes `text` to path/name (bytes as given) and returns that file's path.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return file(name);
  }
};

}  // namespace iqa::testing
