// softmax / log_softmax / layer_norm: CPU forward against f64 loops written here, finite-difference
// gradient checks, and CUDA forward + backward against the CPU on odd shapes.
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

TEST_CASE("softmax and log_softmax gradients (f64 finite differences)", "[ops][norm]") {
  for (int dim : {-1, 1, 0}) {
    INFO("dim " << dim);
    gradcheck([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {rand_f64({2, 3, 4}, -2, 2, 11)});
    gradcheck([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); },
              {rand_f64({2, 3, 4}, -2, 2, 12)});
  }
}

TEST_CASE("layer_norm forward and gradients", "[ops][norm]") {
  Tensor x = randf({3, 49, 37}, 21), w = randf({37}, 22, DType::F32, -1, 1), b = randf({37}, 23, DType::F32, -1, 1);
  require_close(layer_norm(x, w, b).to_vector_f64(), ref_layer_norm(x, w, b, 1e-5), 1e-5, 1e-5, "affine");
  require_close(layer_norm(x, Tensor(), Tensor(), 1e-6).to_vector_f64(), ref_layer_norm(x, Tensor(), Tensor(), 1e-6),
                1e-5, 1e-5, "no affine");
  // A constant row: variance 0, so the output is exactly the bias (eps keeps rstd finite).
  Tensor flat = Tensor::full({1, 37}, 2.5);
  require_close(layer_norm(flat, w, b).to_vector_f64(), b.to_vector_f64(), 1e-6, 1e-6, "constant row");
  REQUIRE_THROWS_AS(layer_norm(x, randf({36}, 24), b), Error);

  gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); },
            {rand_f64({2, 3, 6}, -2, 2, 31), rand_f64({6}, -1, 1, 32), rand_f64({6}, -1, 1, 33)});
  gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor(), 1e-3); },
            {rand_f64({4, 5}, -2, 2, 34)});
  // Non-contiguous input.
  gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0].transpose(0, 1), in[1], Tensor()); },
            {rand_f64({5, 3}, -2, 2, 35), rand_f64({5}, -1, 1, 36)});
}

TEST_CASE("CUDA softmax / log_softmax forward and backward match the CPU", "[ops][norm][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  struct Case { Shape shape; int dim; DType dt; };
  // 768 bf16 takes the vectorised warp path, 250 the scalar warp path, 3000 the block path,
  // dim 1 the transpose path.
  std::vector<Case> cases = {{{197, 768}, -1, DType::BF16}, {{3, 49, 250}, -1, DType::F32},
                             {{3, 49, 250}, -1, DType::F16}, {{5, 3000}, -1, DType::F32},
                             {{7, 3001}, -1, DType::BF16},    {{3, 49, 11}, 1, DType::F32},
                             {{197, 1024}, -1, DType::F32}};
  for (const Case& c : cases) {
    for (bool log : {false, true}) {
      INFO("shape " << shape_str(c.shape) << " dtype " << dtype_name(c.dt) << " log " << log);
      double tol = c.dt == DType::F32 ? 1e-5 : 2e-2;
      Tensor x = randf(c.shape, 41, c.dt).to(DType::F32), up = randf(c.shape, 42, c.dt).to(DType::F32);
      auto run = [&](Device dev, DType dt) {
        Tensor xd = x.to(dev, dt).detach().set_requires_grad(true);
        Tensor y = log ? log_softmax(xd, c.dim) : softmax(xd, c.dim);
        sum(mul(y, up.to(dev, dt))).backward();
        return std::vector<Tensor>{y.detach().to(kCPU, DType::F32), xd.grad().to(kCPU, DType::F32)};
      };
      auto cpu = run(kCPU, DType::F32), gpu = run(cuda_device(), c.dt);
      require_close(gpu[0], cpu[0], tol, tol, "forward");
      require_close(gpu[1], cpu[1], tol, tol, "backward");
    }
  }
}

TEST_CASE("CUDA layer_norm forward and backward match the CPU", "[ops][norm][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  struct Case { Shape shape; DType dt; bool affine; };
  std::vector<Case> cases = {{{197, 768}, DType::BF16, true}, {{3, 49, 100}, DType::F32, true},
                             {{3, 49, 37}, DType::F16, false}, {{3, 5, 1500}, DType::F32, true},
                             {{2, 3, 4099}, DType::BF16, true}, {{1031, 64}, DType::F32, true}};
  for (const Case& c : cases) {
    INFO("shape " << shape_str(c.shape) << " dtype " << dtype_name(c.dt) << " affine " << c.affine);
    double tol = c.dt == DType::F32 ? 1e-4 : 3e-2;
    int64_t C = c.shape.back();
    Tensor x = randf(c.shape, 51, c.dt).to(DType::F32), up = randf(c.shape, 52, c.dt).to(DType::F32);
    Tensor w = randf({C}, 53, c.dt, -1, 1).to(DType::F32), b = randf({C}, 54, c.dt, -1, 1).to(DType::F32);
    auto run = [&](Device dev, DType dt) {
      Tensor xd = x.to(dev, dt).detach().set_requires_grad(true);
      Tensor wd = w.to(dev, dt).detach().set_requires_grad(true), bd = b.to(dev, dt).detach().set_requires_grad(true);
      Tensor y = c.affine ? layer_norm(xd, wd, bd) : layer_norm(xd, Tensor(), Tensor());
      sum(mul(y, up.to(dev, dt))).backward();
      std::vector<Tensor> r{y.detach().to(kCPU, DType::F32), xd.grad().to(kCPU, DType::F32)};
      if (c.affine) {
        r.push_back(wd.grad().to(kCPU, DType::F32));
        r.push_back(bd.grad().to(kCPU, DType::F32));
      }
      return r;
    };
    auto cpu = run(kCPU, DType::F32), gpu = run(cuda_device(), c.dt);
    require_close(gpu[0], cpu[0], tol, tol, "forward");
    require_close(gpu[1], cpu[1], tol, tol, "dx");
    if (c.affine) {
      // Column sums over up to 197 rows: the bf16 rounding of the result dominates, scale the tolerance.
      double sum_tol = c.dt == DType::F32 ? 1e-4 : 5e-2;
      require_close(gpu[2], cpu[2], sum_tol, sum_tol, "dweight");
      require_close(gpu[3], cpu[3], sum_tol, sum_tol, "dbias");
    }
  }
}
