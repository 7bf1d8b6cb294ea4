// Unary ops, where, clamp, maximum/minimum and cast: CPU forward against float64 formulas written
// here, and the gradients at the special points PyTorch fixes (the f64 gradchecks: tests/op_table/).
#include <cmath>

#include "engine/random.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> reference;
  double lo, hi;  // sampled domain: positives only where lo > 0
};

double gelu_erf_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_ref(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}
double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, -2, 2},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, -2, 2},
      {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, 0.2, 3},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.2, 3},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.2, 3},
      {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, [](double x) { return x * x; }, -2, 2},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, [](double x) { return x * x * x; }, -2, 2},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, [](double x) { return std::sqrt(x); }, 0.2, 3},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, [](double x) { return std::pow(x, -1.5); }, 0.2, 3},
      {"abs", [](const Tensor& x) { return abs(x); }, [](double x) { return std::fabs(x); }, -2, 2},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.75); },
       [](double x) { return std::min(std::max(x, -0.5), 0.75); }, -2, 2},
      {"clamp lo", [](const Tensor& x) { return clamp(x, 0.3, std::nullopt); },
       [](double x) { return std::max(x, 0.3); }, -2, 2},
      {"clamp hi", [](const Tensor& x) { return clamp(x, std::nullopt, -0.3); },
       [](double x) { return std::min(x, -0.3); }, -2, 2},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, sigmoid_ref, -4, 4},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); }, -3, 3},
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -2, 2},
      {"gelu", [](const Tensor& x) { return gelu(x); }, gelu_erf_ref, -4, 4},
      {"gelu tanh", [](const Tensor& x) { return gelu(x, GeluApprox::Tanh); }, gelu_tanh_ref, -4, 4},
      {"quick_gelu", [](const Tensor& x) { return quick_gelu(x); },
       [](double x) { return x * sigmoid_ref(1.702 * x); }, -4, 4},
  };
}

// Values with negatives and zero for ops defined on all reals; positives for the others.
std::vector<double> sample_values(double lo) {
  if (lo > 0) return {0.01, 0.2, 0.5, 1.0, 1.7, 4.0, 9.0, 123.0};
  return {-6.0, -3.0, -1.5, -0.75, -0.3, -0.0, 0.0, 0.1, 0.5, 0.75, 1.0, 2.5, 6.0};
}

}  // namespace

TEST_CASE("unary ops: CPU forward matches float64 formulas", "[ops][elementwise]") {
  for (const auto& c : unary_cases()) {
    std::vector<double> xs = sample_values(c.lo);
    std::vector<double> expect;
    for (double x : xs) expect.push_back(c.reference(x));
    Shape shape{int64_t(xs.size())};
    INFO("op " << c.name);
    Tensor x64 = Tensor::from_vector_f64(xs, shape);
    require_close(c.op(x64).to_vector_f64(), expect, 1e-12, 1e-14, c.name);
    Tensor x32 = Tensor::from_vector_f64(xs, shape, DType::F32);
    Tensor y32 = c.op(x32);
    REQUIRE(y32.dtype() == DType::F32);
    require_close(y32.to_vector_f64(), expect, 2e-6, 1e-7, c.name);
  }
}

TEST_CASE("unary ops: sign, special values and strided input", "[ops][elementwise]") {
  Tensor x = Tensor::from_vector({-2.5f, -0.0f, 0.0f, 3.0f}, {4});
  REQUIRE(sign(x).to_vector() == std::vector<float>{-1, 0, 0, 1});
  auto lz = log(Tensor::from_vector({0.0f}, {1})).to_vector();
  REQUIRE((std::isinf(lz[0]) && lz[0] < 0));
  REQUIRE(std::isinf(rsqrt(Tensor::from_vector({0.0f}, {1})).item()));
  REQUIRE(sqrt(Tensor::from_vector({0.0f}, {1})).item() == 0.0);
  REQUIRE(std::isnan(sqrt(Tensor::from_vector({-1.0f}, {1})).item()));
  REQUIRE(sigmoid(Tensor::from_vector({-200.0f, 200.0f}, {2})).to_vector() == std::vector<float>{0.0f, 1.0f});
  REQUIRE(std::isnan(clamp(Tensor::from_vector({NAN}, {1}), 0.0, 1.0).item()));
  // A transposed (non-contiguous) input gives the same numbers as its contiguous copy.
  Tensor m = Tensor::arange(-6, 6).reshape({3, 4}).transpose(0, 1);
  REQUIRE(tanh(m).to_vector() == tanh(m.contiguous()).to_vector());
  REQUIRE_THROWS_AS(clamp(x, std::nullopt, std::nullopt), Error);
  REQUIRE_THROWS_AS(exp(Tensor::ones({2}, DType::I64)), Error);
}

TEST_CASE("unary gradients at the points PyTorch fixes", "[ops][elementwise]") {
  Tensor x = Tensor::from_vector_f64({-2, -1, -0.5, 0, 0.5, 1, 2}, {7}).set_requires_grad(true);
  sum(clamp(x, -1.0, 1.0)).backward();  // passes where lo <= x <= hi, bounds included
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>{0, 1, 1, 1, 1, 1, 0});
  x.zero_grad();
  sum(relu(x)).backward();  // 0 at x = 0
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>{0, 0, 0, 0, 1, 1, 1});
  x.zero_grad();
  sum(abs(x)).backward();  // sign(x): 0 at x = 0
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>{-1, -1, -1, 0, 1, 1, 1});
  x.zero_grad();
  sum(sign(x)).backward();
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>(7, 0.0));
  x.zero_grad();
  sum(pow(x, 0.0)).backward();  // d x^0 / dx = 0 everywhere (also at 0)
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>(7, 0.0));
}

TEST_CASE("maximum and minimum: forward, ties and gradients", "[ops][elementwise]") {
  Tensor a = Tensor::from_vector_f64({1, 5, 3, -2}, {4}).set_requires_grad(true);
  Tensor b = Tensor::from_vector_f64({2, 5, 1, -2}, {4}).set_requires_grad(true);
  Tensor mx = maximum(a, b), mn = minimum(a, b);
  REQUIRE(mx.to_vector_f64() == std::vector<double>{2, 5, 3, -2});
  REQUIRE(mn.to_vector_f64() == std::vector<double>{1, 5, 1, -2});
  sum(mx).backward();  // ties go to a
  REQUIRE(a.grad().to_vector_f64() == std::vector<double>{0, 1, 1, 1});
  REQUIRE(b.grad().to_vector_f64() == std::vector<double>{1, 0, 0, 0});
  a.zero_grad();
  b.zero_grad();
  sum(mn).backward();
  REQUIRE(a.grad().to_vector_f64() == std::vector<double>{1, 1, 0, 1});
  REQUIRE(b.grad().to_vector_f64() == std::vector<double>{0, 0, 1, 0});
  REQUIRE(std::isnan(maximum(Tensor::from_vector({NAN}, {1}), Tensor::from_vector({1.0f}, {1})).item()));
  REQUIRE(std::isnan(minimum(Tensor::from_vector({1.0f}, {1}), Tensor::from_vector({NAN}, {1})).item()));
}

TEST_CASE("where: broadcasting forward and gradients", "[ops][elementwise]") {
  Tensor cond = Tensor::from_vector({1, 0, 1}, {3, 1}, DType::U8);
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 4});
  Tensor b = Tensor::from_vector({-1, -2, -3, -4}, {4});
  REQUIRE(where(cond, a, b).to_vector() == std::vector<float>{1, 2, 3, 4, -1, -2, -3, -4, 9, 10, 11, 12});
  REQUIRE(where(cond, b, a).shape() == Shape{3, 4});
  REQUIRE_THROWS_AS(where(cond.to(DType::F32), a, b), Error);
  REQUIRE_THROWS_AS(where(cond, a, Tensor::ones({5})), Error);
  // i64 values move unchanged (bytes only).
  Tensor ia = Tensor::from_vector_i64({int64_t(1) << 60, 7}, {2}), ib = Tensor::from_vector_i64({3, 4}, {2});
  REQUIRE(where(Tensor::from_vector({0, 1}, {2}, DType::U8), ia, ib).to_vector_i64() == std::vector<int64_t>{3, 7});
  REQUIRE(where(Tensor::from_vector({1, 0}, {2}, DType::U8), ia, ib).to_vector_i64()[0] == int64_t(1) << 60);

  Tensor ga = rand_f64({3, 4}, -1, 1, 41), gb = rand_f64({4}, -1, 1, 42);
  sum(where(cond, ga, gb)).backward();
  REQUIRE(ga.grad().to_vector_f64() == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1});
  REQUIRE(gb.grad().to_vector_f64() == std::vector<double>{1, 1, 1, 1});  // one row of three took b
}

TEST_CASE("comparisons give u8 masks", "[ops][elementwise]") {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}), b = Tensor::from_vector({2}, {1});
  REQUIRE(gt(a, b).dtype() == DType::U8);
  REQUIRE(gt(a, b).to_vector() == std::vector<float>{0, 0, 1});
  REQUIRE(lt(a, b).to_vector() == std::vector<float>{1, 0, 0});
  REQUIRE(eq(a, b).to_vector() == std::vector<float>{0, 1, 0});
}

TEST_CASE("cast: values and gradient cast back", "[ops][elementwise]") {
  Tensor x = Tensor::from_vector_f64({0.1, -2.75, 3.0}, {3}).set_requires_grad(true);
  Tensor y = cast(x, DType::F32);
  REQUIRE(y.dtype() == DType::F32);
  REQUIRE(y.to_vector() == std::vector<float>{0.1f, -2.75f, 3.0f});
  sum(mul(y, Tensor::from_vector({1.5f, 2, -1}, {3}))).backward();
  REQUIRE(x.grad().dtype() == DType::F64);
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>{1.5, 2, -1});
  Tensor i = cast(x, DType::I64);
  REQUIRE(i.to_vector_i64() == std::vector<int64_t>{0, -2, 3});
  REQUIRE_FALSE(i.requires_grad());
  REQUIRE(cast(x, DType::F64).same_impl(x));
}
