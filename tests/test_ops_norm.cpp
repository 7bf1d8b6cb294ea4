// softmax / log_softmax / layer_norm: CPU forward against f64 loops written here. Their gradchecks and
// CUDA checks are rows of the op table (tests/op_table/rows_norm_matmul.cpp).
#include <cmath>

#include "engine/random.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

Tensor randf(const Shape& s, uint64_t seed, DType dt = DType::F32, double lo = -3, double hi = 3) {
  return rand_f64(s, lo, hi, seed).detach().to(dt);
}

// Softmax of x along `dim`, in f64, as a flat vector in x's logical order.
std::vector<double> ref_softmax(const Tensor& x, int dim, bool log) {
  std::vector<double> v = x.to_vector_f64(), out(v.size());
  const Shape& s = x.shape();
  int64_t n = s[size_t(dim)], inner = 1, outer = 1;
  for (int d = dim + 1; d < x.dim(); ++d) inner *= s[size_t(d)];
  for (int d = 0; d < dim; ++d) outer *= s[size_t(d)];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return size_t((o * n + j) * inner + i); };
      double mx = -1e300, tot = 0;
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, v[at(j)]);
      for (int64_t j = 0; j < n; ++j) tot += std::exp(v[at(j)] - mx);
      for (int64_t j = 0; j < n; ++j)
        out[at(j)] = log ? v[at(j)] - mx - std::log(tot) : std::exp(v[at(j)] - mx) / tot;
    }
  return out;
}

std::vector<double> ref_layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  std::vector<double> v = x.to_vector_f64(), out(v.size());
  int64_t c = x.shape().back(), rows = x.numel() / c;
  std::vector<double> wv = w.defined() ? w.to_vector_f64() : std::vector<double>(size_t(c), 1.0);
  std::vector<double> bv = b.defined() ? b.to_vector_f64() : std::vector<double>(size_t(c), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double mu = 0, var = 0;
    for (int64_t j = 0; j < c; ++j) mu += v[size_t(r * c + j)];
    mu /= double(c);
    for (int64_t j = 0; j < c; ++j) var += (v[size_t(r * c + j)] - mu) * (v[size_t(r * c + j)] - mu);
    var /= double(c);
    for (int64_t j = 0; j < c; ++j)
      out[size_t(r * c + j)] = (v[size_t(r * c + j)] - mu) / std::sqrt(var + eps) * wv[size_t(j)] + bv[size_t(j)];
  }
  return out;
}

}  // namespace

TEST_CASE("softmax and log_softmax forward over every dim", "[ops][norm]") {
  Tensor x = randf({3, 49, 5}, 1);
  for (int dim : {0, 1, 2, -1}) {
    INFO("dim " << dim);
    int d = dim < 0 ? dim + 3 : dim;
    require_close(softmax(x, dim).to_vector_f64(), ref_softmax(x, d, false), 1e-5, 1e-6, "softmax");
    require_close(log_softmax(x, dim).to_vector_f64(), ref_softmax(x, d, true), 1e-5, 1e-5, "log_softmax");
  }
  // Large logits: the max subtraction keeps exp finite.
  Tensor big = Tensor::from_vector({1000, 1001, 999}, {1, 3});
  require_close(softmax(big).to_vector_f64(), ref_softmax(big, 1, false), 1e-5, 1e-7, "large logits");
  // A transposed (non-contiguous) input.
  Tensor t = randf({6, 4}, 2).transpose(0, 1);
  require_close(softmax(t, 1).to_vector_f64(), ref_softmax(t.contiguous(), 1, false), 1e-5, 1e-6, "transposed");
  REQUIRE_THROWS_AS(softmax(x, 3), Error);
}

TEST_CASE("layer_norm forward, constant rows and shape errors", "[ops][norm]") {
  Tensor x = randf({3, 49, 37}, 21), w = randf({37}, 22, DType::F32, -1, 1), b = randf({37}, 23, DType::F32, -1, 1);
  require_close(layer_norm(x, w, b).to_vector_f64(), ref_layer_norm(x, w, b, 1e-5), 1e-5, 1e-5, "affine");
  require_close(layer_norm(x, Tensor(), Tensor(), 1e-6).to_vector_f64(), ref_layer_norm(x, Tensor(), Tensor(), 1e-6),
                1e-5, 1e-5, "no affine");
  // A constant row: variance 0, so the output is exactly the bias (eps keeps rstd finite).
  Tensor flat = Tensor::full({1, 37}, 2.5);
  require_close(layer_norm(flat, w, b).to_vector_f64(), b.to_vector_f64(), 1e-6, 1e-6, "constant row");
  REQUIRE_THROWS_AS(layer_norm(x, randf({36}, 24), b), Error);

}
