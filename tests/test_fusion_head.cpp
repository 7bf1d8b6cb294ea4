// local_global_head: against mean + concat + linear from engine ops (values and all four gradients),
// finite differences, and CUDA against the CPU in f32 and bf16.
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

Tensor composite_head(const Tensor& g, const Tensor& tokens, const Tensor& w, const Tensor& b) {
  return linear(concat({g, mean(tokens, {1})}, 1), w, b);
}

struct HeadInputs {
  Tensor g, tokens, w, b;
  std::vector<Tensor> list() const { return {g, tokens, w, b}; }
};

HeadInputs make_inputs(int64_t B, int64_t G, int64_t N, int64_t D, uint64_t seed) {
  return {rand_f64({B, G}, -1, 1, seed), rand_f64({B, N, D}, -1, 1, seed + 1), rand_f64({1, G + D}, -0.5, 0.5, seed + 2),
          rand_f64({1}, -0.5, 0.5, seed + 3)};
}

HeadInputs fresh_copy(const HeadInputs& in, DType dt = DType::F64, Device dev = kCPU) {
  auto c = [&](const Tensor& t) { return t.detach().to(dev, dt).set_requires_grad(true); };
  return {c(in.g), c(in.tokens), c(in.w), c(in.b)};
}

}  // namespace

TEST_CASE("local_global_head equals mean + concat + linear, with gradients", "[kernels][fusion_head]") {
  struct Case { int64_t B, G, N, D; };
  for (Case c : {Case{3, 5, 7, 6}, Case{1, 1, 1, 1}, Case{2, 512, 196, 768}}) {
    INFO("B " << c.B << " G " << c.G << " N " << c.N << " D " << c.D);
    HeadInputs in = make_inputs(c.B, c.G, c.N, c.D, 7);
    HeadInputs a = fresh_copy(in), b = fresh_copy(in);
    Tensor got = local_global_head(a.g, a.tokens, a.w, a.b);
    Tensor want = composite_head(b.g, b.tokens, b.w, b.b);
    REQUIRE(got.shape() == Shape({c.B, 1}));
    require_close(got, want, 1e-12, 1e-12, "output");
    Tensor up = rand_f64({c.B, 1}, -1, 1, 99).detach();
    got.backward(up);
    want.backward(up);
    require_close(a.g.grad(), b.g.grad(), 1e-12, 1e-12, "grad global_cls");
    require_close(a.tokens.grad(), b.tokens.grad(), 1e-12, 1e-12, "grad local_tokens");
    require_close(a.w.grad(), b.w.grad(), 1e-12, 1e-12, "grad weight");
    require_close(a.b.grad(), b.b.grad(), 1e-12, 1e-12, "grad bias");
  }
  // f32 follows the same numbers.
  HeadInputs in = make_inputs(4, 9, 11, 10, 17);
  HeadInputs f = fresh_copy(in, DType::F32);
  require_close(local_global_head(f.g, f.tokens, f.w, f.b), composite_head(in.g, in.tokens, in.w, in.b), 1e-5, 1e-6,
                "f32 output");
}

TEST_CASE("local_global_head rejects wrong shapes and dtypes", "[kernels][fusion_head]") {
  HeadInputs in = make_inputs(2, 4, 3, 5, 1);
  REQUIRE_THROWS_WITH(local_global_head(in.g, in.tokens, rand_f64({1, 8}), in.b), Catch::Contains("weight must be [1, 9]"));
  REQUIRE_THROWS_AS(local_global_head(in.g, in.tokens.narrow(0, 0, 1), in.w, in.b), Error);
  REQUIRE_THROWS_AS(local_global_head(in.g, in.tokens, in.w, rand_f64({2})), Error);
  REQUIRE_THROWS_AS(local_global_head(in.g.detach().to(DType::F32), in.tokens, in.w, in.b), Error);
}

TEST_CASE("local_global_head gradients pass finite differences", "[kernels][fusion_head]") {
  HeadInputs in = make_inputs(3, 4, 5, 6, 21);
  gradcheck([](const std::vector<Tensor>& x) { return local_global_head(x[0], x[1], x[2], x[3]); }, in.list());
}

TEST_CASE("local_global_head CUDA matches the CPU", "[kernels][fusion_head][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  struct Case { int64_t B, G, N, D; };
  for (Case c : {Case{3, 512, 196, 768}, Case{5, 7, 197, 13}, Case{256, 512, 196, 768}}) {
    for (DType dt : {DType::F32, DType::BF16}) {
      INFO("B " << c.B << " D " << c.D << " dtype " << dtype_name(dt));
      HeadInputs in = make_inputs(c.B, c.G, c.N, c.D, 31);
      // Round the inputs to dt once so both backends see the same values.
      HeadInputs rounded = fresh_copy(fresh_copy(in, dt), DType::F32);
      HeadInputs gpu = fresh_copy(in, dt, cuda_device(0));
      Tensor want = local_global_head(rounded.g, rounded.tokens, rounded.w, rounded.b);
      Tensor got = local_global_head(gpu.g, gpu.tokens, gpu.w, gpu.b);
      Tensor up = rand_f64({c.B, 1}, -1, 1, 5).detach();
      want.backward(up.to(DType::F32));
      got.backward(up.to(cuda_device(0), dt));
      const double tol = dt == DType::F32 ? 1e-5 : 2e-2;
      require_close(got.cpu().to(DType::F32), want, tol, tol, "output");
      require_close(gpu.g.grad().cpu().to(DType::F32), rounded.g.grad(), tol, tol, "grad global_cls");
      require_close(gpu.tokens.grad().cpu().to(DType::F32), rounded.tokens.grad(), tol, tol, "grad local_tokens");
      require_close(gpu.w.grad().cpu().to(DType::F32), rounded.w.grad(), tol, tol, "grad weight");
      require_close(gpu.b.grad().cpu().to(DType::F32), rounded.b.grad(), tol, tol, "grad bias");
      // Deterministic: a second backward gives bit-identical weight gradients.
      Tensor w1 = gpu.w.grad().cpu();
      gpu.w.zero_grad();
      local_global_head(gpu.g, gpu.tokens, gpu.w, gpu.b).backward(up.to(cuda_device(0), dt));
      REQUIRE(gpu.w.grad().cpu().to_vector_f64() == w1.to_vector_f64());
    }
  }
}
