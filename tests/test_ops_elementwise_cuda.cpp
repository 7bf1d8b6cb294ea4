// CUDA elementwise and reduction kernels against the CPU ops where the answer is exact or the rule is
// specific: binary ops on a grid of exactly representable values, integer dtypes, where, reductions
// on odd shapes. The CPU reference runs in f64 on the very values the device sees (bf16 inputs are
// rounded first). The unary ops and broadcasting gradients are op-table rows (tests/op_table/).
#include <cmath>

#include "engine/random.h"
#include "kernels/reduce.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

const Device kGPU = cuda_device(0);

// Uniform [lo, hi) values rounded to `dtype`, on the CPU.
Tensor rand_in(const Shape& shape, double lo, double hi, DType dtype, uint64_t seed) {
  manual_seed(seed);
  NoGradGuard ng;
  return add(mul(Tensor::rand(shape, DType::F64), hi - lo), lo).to(dtype);
}

double rtol_for(DType t) { return t == DType::F32 ? 1e-5 : 2e-2; }
double atol_for(DType t) { return t == DType::F32 ? 1e-6 : 2e-2; }

// Multiples of 1/4 in [-8, 8) plus `shift`: few distinct values, exact in bf16.
Tensor quarter_grid(const Shape& shape, double shift, uint64_t seed) {
  NoGradGuard ng;
  Tensor k = rand_in(shape, -32, 32, DType::F64, seed).to(DType::I64);
  return add(mul(cast(k, DType::F64), 0.25), shift);
}

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
std::vector<std::pair<const char*, BinaryFn>> binary_ops() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
  };
}

}  // namespace

TEST_CASE("CUDA binary ops and comparisons match the CPU", "[ops][elementwise][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{197, 3}, {197, 3}}, {{12608, 7}, {7}}, {{3, 1, 5}, {4, 1}}, {{197, 3}, {}}, {{7}, {12608, 7}}};
  uint64_t seed = 300;
  for (DType dtype : {DType::F32, DType::BF16}) {
    // add/sub/mul/max/min of these grid values are exact; a quotient may round twice (f32, then
    // bf16), one bf16 ulp at most.
    double rtol = dtype == DType::F32 ? 1e-6 : 8e-3;
    for (const auto& [sa, sb] : shapes) {
      Tensor a = quarter_grid(sa, 0.0, seed++).to(dtype);
      Tensor b = quarter_grid(sb, 0.125, seed++).to(dtype);  // never 0: safe divisors
      for (const auto& [name, op] : binary_ops()) {
        INFO(name << " " << shape_str(sa) << " by " << shape_str(sb) << " in " << dtype_name(dtype));
        Tensor got = op(a.to(kGPU), b.to(kGPU)).cpu();
        Tensor want = op(a.to(DType::F64), b.to(DType::F64));
        if (want.dtype() != DType::U8) want = want.to(dtype);
        REQUIRE(got.dtype() == want.dtype());
        require_close(got, want, rtol, 1e-30, name);
      }
      // eq and the ties of maximum/minimum really occur on this grid.
      if (sa == sb) {
        Tensor b_ties = quarter_grid(sb, 0.0, seed++).to(dtype);
        REQUIRE(sum(cast(eq(a.to(kGPU), b_ties.to(kGPU)), DType::F32)).item() > 0);
      }
      // A transposed (strided) left operand.
      if (sa.size() == 2) {
        Tensor at = a.to(kGPU).transpose(0, 1), a64 = a.to(DType::F64).transpose(0, 1);
        require_close(mul(at, at).cpu(), mul(a64, a64).to(dtype), rtol, 1e-30, "mul transposed");
      }
    }
  }
}

TEST_CASE("CUDA integer binary ops are exact", "[ops][elementwise][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  std::vector<int64_t> av, bv;
  uint64_t state = 12345;
  auto next = [&state]() { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return state >> 33; };
  for (int i = 0; i < 197 * 3; ++i) av.push_back(int64_t(next() % 200) + (int64_t(1) << 40));
  for (int i = 0; i < 3; ++i) bv.push_back(int64_t(next() % 50) + 1);
  for (DType dtype : {DType::I64, DType::I32, DType::U8}) {
    INFO(dtype_name(dtype));
    Tensor a = Tensor::from_vector_i64(av, {197, 3}), b = Tensor::from_vector_i64(bv, {3});
    if (dtype != DType::I64) a = sub(a, Tensor::scalar(double(int64_t(1) << 40), DType::I64).to(DType::I64));
    a = a.to(dtype);
    b = b.to(dtype);
    for (const auto& [name, op] : binary_ops()) {
      INFO(name);
      Tensor got = op(a.to(kGPU), b.to(kGPU)).cpu();
      REQUIRE(got.to_vector_i64() == op(a, b).to_vector_i64());
    }
  }
}

TEST_CASE("CUDA where matches the CPU", "[ops][elementwise][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  Tensor cond = gt(rand_in({12608, 1}, 0, 1, DType::F32, 501), Tensor::scalar(0.5));
  for (DType dtype : {DType::F32, DType::BF16, DType::I64}) {
    INFO(dtype_name(dtype));
    Tensor a = rand_in({12608, 7}, -4, 4, dtype, 502), b = rand_in({7}, -4, 4, dtype, 503);
    REQUIRE(where(cond.to(kGPU), a.to(kGPU), b.to(kGPU)).cpu().to_vector_f64() == where(cond, a, b).to_vector_f64());
  }
  Tensor a = rand_in({197, 3}, -1, 1, DType::BF16, 504).to(kGPU).detach().set_requires_grad(true);
  Tensor c3 = gt(rand_in({197, 1}, 0, 1, DType::F32, 505), Tensor::scalar(0.3)).to(kGPU);
  sum(where(c3, a, Tensor::zeros({}, DType::BF16, kGPU))).backward();
  REQUIRE(a.grad().cpu().to_vector_f64() == cast(c3.cpu(), DType::F64).expand({197, 3}).contiguous().to_vector_f64());
}

TEST_CASE("CUDA reduce_rows and argmax match the CPU on odd shapes", "[ops][reduce][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {197, 3}, {12608, 7}, {49, 768}, {3, 12608}, {1, 100003}, {5, 1025}, {7, 1}};
  uint64_t seed = 600;
  for (DType dtype : {DType::F32, DType::BF16}) {
    for (auto [outer, inner] : shapes) {
      INFO(outer << "x" << inner << " " << dtype_name(dtype));
      Tensor x = rand_in({outer, inner}, -1, 1, dtype, seed++);
      Tensor xd = x.to(kGPU), x64 = x.to(DType::F64);
      // Sums of n terms in [-1,1]: tolerance grows like sqrt(n) ulps of the output dtype.
      double ulp = dtype == DType::F32 ? 1e-6 : 1e-2;
      require_close(sum(xd, {1}).cpu(), sum(x64, {1}), rtol_for(dtype), 4 * ulp * std::sqrt(double(inner)), "sum");
      require_close(mean(xd, {1}).cpu(), mean(x64, {1}), rtol_for(dtype), atol_for(dtype), "mean");
      require_close(sum(xd, {0}).cpu(), sum(x64, {0}), rtol_for(dtype), 4 * ulp * std::sqrt(double(outer)), "sum dim 0");
      REQUIRE(argmax(xd, 1).cpu().to_vector_i64() == argmax(x.to(DType::F32), 1).to_vector_i64());
#ifdef IQA_WITH_CUDA
      // Max/Min are exact (no rounding); no op exposes them, so call the kernels directly.
      for (auto op : {kernels::ReduceOp::Max, kernels::ReduceOp::Min}) {
        Tensor got = Tensor::empty({outer}, dtype, kGPU);
        kernels::cuda::reduce_rows(op, dtype, xd.raw_data(), got.raw_data(), outer, inner, cuda::current_stream());
        Tensor x32 = x.to(DType::F32), want = Tensor::empty({outer}, DType::F32);
        kernels::cpu::reduce_rows(op, DType::F32, x32.raw_data(), want.raw_data(), outer, inner);
        REQUIRE(got.cpu().to_vector_f64() == want.to_vector_f64());
      }
#endif
    }
  }
  // Unaligned rows (inner odd) and an unaligned base pointer take the scalar-load path.
  Tensor base = rand_in({1 + 49 * 768}, -1, 1, DType::BF16, 700).to(kGPU);
  Tensor view = base.narrow(0, 1, 49 * 768).reshape({49, 768});
  require_close(sum(view, {1}).cpu(), sum(view.cpu().to(DType::F64), {1}), 2e-2, 0.2, "sum unaligned");
  // i64 rows sum exactly.
  Tensor idx = Tensor::arange(0, 3 * 1025, 1, DType::I64).reshape({3, 1025});
  REQUIRE(sum(idx.to(kGPU), {1}).cpu().to_vector_i64() == sum(idx, {1}).to_vector_i64());
}
