// Losses against hand values and float64 formulas. Gradchecks and CUDA-vs-CPU: tests/op_table/.
#include <cmath>

#include "engine/random.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {
Tensor vec(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector_f64(v, shape); }
}  // namespace

TEST_CASE("l1, mse and smooth_l1 match hand values", "[loss]") {
  Tensor pred = vec({1, 2, 3}, {3}), target = vec({1.5, 2, 1}, {3});
  // d = (-0.5, 0, 2)
  REQUIRE(std::abs(l1_loss(pred, target).item() - 2.5 / 3) < 1e-12);
  REQUIRE(std::abs(mse_loss(pred, target).item() - 4.25 / 3) < 1e-12);
  // beta 1: 0.5 d^2 for |d| < 1 -> 0.125, 0; |d| - 0.5 -> 1.5.
  REQUIRE(std::abs(smooth_l1_loss(pred, target).item() - 1.625 / 3) < 1e-12);
  // beta 0.5: |d| = 0.5 is not below beta -> 0.5 - 0.25; 0 -> 0; 2 - 0.25.
  REQUIRE(std::abs(smooth_l1_loss(pred, target, 0.5).item() - 2.0 / 3) < 1e-12);
  REQUIRE(std::abs(smooth_l1_loss(pred, target, 0.0).item() - 2.5 / 3) < 1e-12);
  REQUIRE(l1_loss(pred.to(DType::F32), target.to(DType::F32)).dtype() == DType::F32);
  REQUIRE_THROWS_AS(l1_loss(pred, vec({1, 2}, {2})), Error);
  REQUIRE_THROWS_AS(mse_loss(pred, target.to(DType::F32)), Error);
}

TEST_CASE("cross_entropy with hard and soft targets matches hand values", "[loss]") {
  Tensor logits = vec({1, 2, 3, 0, 0, 0}, {2, 3});
  Tensor target = Tensor::from_vector_i64({2, 0}, {2});
  // -log softmax: row 0, class 2: log(1 + e^-1 + e^-2); row 1: log 3.
  double expect = (std::log(1 + std::exp(-1.0) + std::exp(-2.0)) + std::log(3.0)) / 2;
  REQUIRE(std::abs(cross_entropy(logits, target).item() - expect) < 1e-12);
  REQUIRE(std::abs(expect - 0.7531091) < 1e-6);

  // One-hot soft targets give the same number.
  Tensor onehot = vec({0, 0, 1, 1, 0, 0}, {2, 3});
  REQUIRE(std::abs(cross_entropy_soft(logits, onehot).item() - expect) < 1e-12);
  // Row 0 split between classes 1 and 2, row 1 uniform.
  Tensor soft = vec({0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3}, {2, 3});
  double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  double row0 = -(0.5 * (2 - lse0) + 0.5 * (3 - lse0));
  REQUIRE(std::abs(cross_entropy_soft(logits, soft).item() - (row0 + std::log(3.0)) / 2) < 1e-12);

  REQUIRE_THROWS_WITH(cross_entropy(logits, Tensor::from_vector_i64({3, 0}, {2})), Catch::Contains("out of range"));
  REQUIRE_THROWS_AS(cross_entropy(logits, Tensor::from_vector_i64({1}, {1})), Error);
  REQUIRE_THROWS_AS(cross_entropy(logits.reshape({6}), target), Error);
}

TEST_CASE("cross_entropy gradient is (softmax - onehot) / N", "[loss]") {
  Tensor logits = rand_f64({3, 5}, -2, 2, 21);
  Tensor labels = Tensor::from_vector_i64({4, 0, 2}, {3});
  // d CE / d logits = (softmax - onehot) / N for the hard-target loss.
  cross_entropy(logits, labels).backward();
  auto lv = logits.to_vector_f64();
  auto gv = logits.grad().to_vector_f64();
  const int64_t t[] = {4, 0, 2};
  for (int n = 0; n < 3; ++n) {
    double z = 0;
    for (int c = 0; c < 5; ++c) z += std::exp(lv[n * 5 + c]);
    for (int c = 0; c < 5; ++c) {
      double expect = (std::exp(lv[n * 5 + c]) / z - (c == t[n] ? 1 : 0)) / 3;
      REQUIRE(std::abs(gv[n * 5 + c] - expect) < 1e-12);
    }
  }
}
