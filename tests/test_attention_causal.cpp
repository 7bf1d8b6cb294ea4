// Causal fused attention on the CPU (kernels/attention.h: top-left aligned, query i sees keys j <= i):
// the f32 GEMM path and the f64 row-by-row reference against the unfused composite with an additive
// -inf mask built here, values and gradients, at odd lengths and Sq != Skv. The f64 finite-difference
// gradchecks and the CUDA comparisons come from the op table (tests/op_table/rows_attention.cpp) and
// from tests/test_attention.cpp's FlashAttention error rule.
#include <cmath>
#include <limits>

#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

// softmax(q k^T * scale + M) v with M[i][j] = -inf for j > i: what open_clip's build_causal_mask
// and torch's is_causal compute, from plain ops in f64.
Tensor masked_composite(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const int64_t sq = q.shape()[2], skv = k.shape()[2];
  std::vector<double> m(size_t(sq * skv), 0.0);
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = i + 1; j < skv; ++j) m[size_t(i * skv + j)] = -std::numeric_limits<double>::infinity();
  Tensor scores = add(mul(matmul(q, k.transpose(-2, -1)), scale), Tensor::from_vector_f64(m, {sq, skv}));
  return matmul(softmax(scores, -1), v);
}

double largest_change(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

Tensor leaf(const Shape& shape, uint64_t seed, DType dt) {
  return rand_f64(shape, -2, 2, seed).detach().to(dt).set_requires_grad(true);
}

// The fused op in `dt` against the composite in f64 on the same values: output and all three gradients.
void check_against_composite(DType dt, int64_t sq, int64_t skv, int64_t d, double tol, uint64_t seed) {
  const int64_t B = 2, H = 3;
  const double scale = 1.0 / std::sqrt(double(d));
  Tensor q = leaf({B, H, sq, d}, seed, dt), k = leaf({B, H, skv, d}, seed + 1, dt), v = leaf({B, H, skv, d}, seed + 2, dt);
  Tensor gout = rand_f64({B, H, sq, d}, -1, 1, seed + 3).detach();
  Tensor out = scaled_dot_product_attention(q, k, v, std::nullopt, /*causal=*/true);
  REQUIRE(out.impl().grad_fn);
  REQUIRE(out.impl().grad_fn->name == "scaled_dot_product_attention");  // the fused op, not the composite
  out.backward(gout.to(dt));

  auto f64_leaf = [](const Tensor& t) { return t.detach().to(DType::F64).set_requires_grad(true); };
  Tensor q64 = f64_leaf(q), k64 = f64_leaf(k), v64 = f64_leaf(v);
  Tensor want = masked_composite(q64, k64, v64, scale);
  want.backward(gout);
  require_close(out.to_vector_f64(), want.to_vector_f64(), tol, tol, "out");
  require_close(q.grad().to_vector_f64(), q64.grad().to_vector_f64(), tol, tol, "dq");
  require_close(k.grad().to_vector_f64(), k64.grad().to_vector_f64(), tol, tol, "dk");
  require_close(v.grad().to_vector_f64(), v64.grad().to_vector_f64(), tol, tol, "dv");
}

}  // namespace

TEST_CASE("fused CPU causal attention matches the -inf masked composite at odd lengths", "[attention][causal]") {
  for (int64_t S : {1, 7, 77, 197}) {
    INFO("S " << S);
    check_against_composite(DType::F32, S, S, 16, 2e-5, uint64_t(100 + S));  // the GEMM path
    check_against_composite(DType::F64, S, S, 8, 1e-11, uint64_t(200 + S));  // the row-by-row reference
  }
}

TEST_CASE("fused CPU causal attention with Sq != Skv is top-left aligned", "[attention][causal]") {
  const int64_t shapes[][2] = {{3, 7}, {7, 3}, {1, 5}, {5, 1}, {77, 20}};
  for (const auto& s : shapes) {
    INFO("Sq " << s[0] << " Skv " << s[1]);
    check_against_composite(DType::F32, s[0], s[1], 16, 2e-5, uint64_t(300 + s[0] * 7 + s[1]));
    check_against_composite(DType::F64, s[0], s[1], 8, 1e-11, uint64_t(400 + s[0] * 7 + s[1]));
  }
  // Keys past Sq - 1 are seen by no query: their gradients are exactly 0.
  Tensor q = leaf({1, 1, 3, 4}, 51, DType::F32), k = leaf({1, 1, 7, 4}, 52, DType::F32), v = leaf({1, 1, 7, 4}, 53, DType::F32);
  sum(scaled_dot_product_attention(q, k, v, std::nullopt, true)).backward();
  const std::vector<double> dk = k.grad().to_vector_f64(), dv = v.grad().to_vector_f64();
  for (size_t i = 3 * 4; i < dk.size(); ++i) REQUIRE((dk[i] == 0 && dv[i] == 0));
  REQUIRE(largest_change(std::vector<double>(dv.begin(), dv.begin() + 12), std::vector<double>(12, 0.0)) > 0.1);
}

// A key after query i may change anything but row i: the first rows of the output are bit-identical
// when the last key and value are replaced; and without the flag the same change reaches row 0.
TEST_CASE("causal attention: a later key does not reach an earlier query", "[attention][causal]") {
  NoGradGuard ng;
  for (DType dt : {DType::F32, DType::F64}) {
    const int64_t S = 9, D = 8;
    Tensor q = rand_f64({1, 1, S, D}, -2, 2, 61).to(dt), k = rand_f64({1, 1, S, D}, -2, 2, 62).to(dt);
    Tensor v = rand_f64({1, 1, S, D}, -2, 2, 63).to(dt);
    Tensor k2 = k.clone(), v2 = v.clone();
    k2.narrow(2, S - 1, 1).fill_(5.0);
    v2.narrow(2, S - 1, 1).fill_(-7.0);
    for (bool causal : {true, false}) {
      INFO(dtype_name(dt) << (causal ? " causal" : " full"));
      Tensor a = scaled_dot_product_attention(q, k, v, std::nullopt, causal).narrow(2, 0, S - 1);
      Tensor b = scaled_dot_product_attention(q, k2, v2, std::nullopt, causal).narrow(2, 0, S - 1);
      const double diff = largest_change(a.to_vector_f64(), b.to_vector_f64());
      if (causal) REQUIRE(diff == 0.0);
      else REQUIRE(diff > 1e-3);
    }
  }
}
