// concat, stack, index_select and gather: hand values, finite-difference gradients (repeated indices
// included, so the index_add / scatter_add adjoints must sum), bad-index errors, and CUDA against CPU.
#include "engine/random.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor rand_f32(const Shape& s, uint64_t seed) { return rand_f64(s, -1, 1, seed).detach().to(DType::F32); }

// Runs f on `inputs` moved to (dev, dt) (index tensors keep their dtype) and back-propagates
// sum(f * weight); returns the output and every floating input's gradient as f32 on the CPU.
std::vector<Tensor> run_with_grads(const OpFn& f, const std::vector<Tensor>& inputs, Device dev, DType dt,
                                   const Tensor& weight) {
  std::vector<Tensor> ins;
  for (const Tensor& in : inputs) {
    bool fl = is_floating(in.dtype());
    Tensor t = in.to(dev, fl ? dt : in.dtype()).detach();
    if (fl) t.set_requires_grad(true);
    ins.push_back(t);
  }
  Tensor out = f(ins);
  sum(mul(out, weight.to(dev, dt))).backward();
  std::vector<Tensor> results{out.detach().to(kCPU, DType::F32)};
  for (const Tensor& t : ins)
    if (t.requires_grad()) results.push_back(t.grad().to(kCPU, DType::F32));
  return results;
}

void check_cuda_matches_cpu(const char* what, const OpFn& f, std::vector<Tensor> inputs, DType dt, double tol) {
  for (auto& t : inputs)
    if (is_floating(t.dtype())) t = t.to(dt).to(DType::F32);
  Tensor probe;
  {
    NoGradGuard ng;
    probe = f(inputs);
  }
  manual_seed(778);
  Tensor weight = Tensor::rand(probe.shape()).to(dt).to(DType::F32);
  auto cpu = run_with_grads(f, inputs, kCPU, DType::F32, weight);
  auto gpu = run_with_grads(f, inputs, cuda_device(), dt, weight);
  REQUIRE(cpu.size() == gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO(what << " result " << i << " (0 = output, then gradients)");
    require_close(gpu[i], cpu[i], tol, tol, what);
  }
}

}  // namespace

TEST_CASE("concat and stack give the expected values", "[ops][index]") {
  Tensor a = Tensor::arange(0, 6).reshape({2, 3});
  Tensor b = Tensor::from_vector({10, 11}, {2, 1});
  REQUIRE(concat({a, b}, 1).to_vector() == std::vector<float>{0, 1, 2, 10, 3, 4, 5, 11});
  REQUIRE(concat({a, b}, -1).shape() == Shape{2, 4});
  Tensor c = Tensor::from_vector({7, 8, 9}, {1, 3});
  REQUIRE(concat({a, c}, 0).to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5, 7, 8, 9});
  // A non-contiguous piece is read through its strides.
  REQUIRE(concat({a.transpose(0, 1), Tensor::zeros({3, 1})}, 1).to_vector() ==
          std::vector<float>{0, 3, 0, 1, 4, 0, 2, 5, 0});
  Tensor s0 = stack({a, a * 2.0}, 0);
  REQUIRE(s0.shape() == Shape{2, 2, 3});
  REQUIRE(s0.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5, 0, 2, 4, 6, 8, 10});
  Tensor s2 = stack({a, a * 2.0}, -1);
  REQUIRE(s2.shape() == Shape{2, 3, 2});
  REQUIRE(s2.to_vector() == std::vector<float>{0, 0, 1, 2, 2, 4, 3, 6, 4, 8, 5, 10});
  REQUIRE_THROWS_AS(concat({a, c}, 1), Error);                  // dim 0 differs
  REQUIRE_THROWS_AS(concat({a, a.to(DType::F64)}, 0), Error);   // dtype
  REQUIRE_THROWS_AS(stack({a, c}, 0), Error);
  REQUIRE_THROWS_AS(concat({}, 0), Error);
}

TEST_CASE("concat and stack gradients match finite differences", "[ops][index]") {
  Tensor a = rand_f64({2, 3, 4}, -1, 1, 1), b = rand_f64({2, 1, 4}, -1, 1, 2), c = rand_f64({2, 5, 4}, -1, 1, 3);
  gradcheck([](const std::vector<Tensor>& in) { return concat(in, 1); }, {a, b, c});
  Tensor d = rand_f64({2, 3, 4}, -1, 1, 4);
  gradcheck([](const std::vector<Tensor>& in) { return stack(in, 1); }, {a, d});
  gradcheck([](const std::vector<Tensor>& in) { return stack(in, 3); }, {a, d});
}

TEST_CASE("index_select gives the selected slices (i64 and i32 indices)", "[ops][index]") {
  Tensor x = Tensor::arange(0, 12).reshape({3, 4});
  Tensor rows = Tensor::from_vector_i64({2, 0, 2}, {3});
  REQUIRE(index_select(x, 0, rows).to_vector() == std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  Tensor cols = Tensor::from_vector_i64({3, 1}, {2}, DType::I32);
  REQUIRE(index_select(x, 1, cols).to_vector() == std::vector<float>{3, 1, 7, 5, 11, 9});
  REQUIRE(index_select(x, -1, cols).shape() == Shape{3, 2});
  Tensor x3 = Tensor::arange(0, 24).reshape({2, 3, 4});
  REQUIRE(index_select(x3, 1, Tensor::from_vector_i64({1}, {1})).to_vector() ==
          std::vector<float>{4, 5, 6, 7, 16, 17, 18, 19});
  // Integer data is selected too (a pure copy).
  REQUIRE(index_select(Tensor::from_vector_i64({5, 6, 7}, {3}), 0, rows).to_vector_i64() ==
          std::vector<int64_t>{7, 5, 7});
}

TEST_CASE("gather follows torch.gather", "[ops][index]") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor idx = Tensor::from_vector_i64({0, 0, 1, 0}, {2, 2});
  REQUIRE(gather(x, 1, idx).to_vector() == std::vector<float>{1, 1, 4, 3});
  REQUIRE(gather(x, 0, idx).to_vector() == std::vector<float>{1, 2, 3, 2});
  // The index may be smaller than the input in the other dims.
  Tensor y = Tensor::arange(0, 12).reshape({3, 4});
  Tensor small = Tensor::from_vector_i64({3, 0, 2, 2}, {2, 2}, DType::I32);
  REQUIRE(gather(y, 1, small).to_vector() == std::vector<float>{3, 0, 6, 6});
  Tensor small0 = Tensor::from_vector_i64({2, 0, 1, 2}, {2, 2});
  REQUIRE(gather(y, 0, small0).to_vector() == std::vector<float>{8, 1, 4, 9});
  REQUIRE_THROWS_AS(gather(y, 1, Tensor::from_vector_i64({0}, {1})), Error);            // rank
  REQUIRE_THROWS_AS(gather(y, 1, Tensor::zeros({4, 1}, DType::I64)), Error);            // larger than input
  REQUIRE_THROWS_AS(gather(y, 1, Tensor::zeros({1, 1}, DType::F32)), Error);            // index dtype
}

TEST_CASE("index_select and gather gradients sum over repeated indices", "[ops][index]") {
  Tensor x = rand_f64({3, 5, 4}, -1, 1, 11);
  Tensor rows = Tensor::from_vector_i64({4, 1, 4, 0, 4}, {5});
  gradcheck([rows](const std::vector<Tensor>& in) { return index_select(in[0], 1, rows); }, {x});
  Tensor cols = Tensor::from_vector_i64({3, 0, 3}, {3}, DType::I32);
  gradcheck([cols](const std::vector<Tensor>& in) { return index_select(in[0], 2, cols); }, {x});
  Tensor idx = Tensor::from_vector_i64({0, 2, 2, 1, 1, 1, 0, 0, 2, 2, 0, 1}, {2, 2, 3});
  gradcheck([idx](const std::vector<Tensor>& in) { return gather(in[0], 0, idx); }, {x});
  Tensor idx_last = Tensor::from_vector_i64({3, 3, 0, 1, 2, 3}, {1, 2, 3});
  gradcheck([idx_last](const std::vector<Tensor>& in) { return gather(in[0], 2, idx_last); }, {x});
  // The summed values, explicitly: row 4 selected three times gets gradient 3.
  Tensor v = Tensor::zeros({5}, DType::F64).set_requires_grad(true);
  sum(index_select(v, 0, rows)).backward();
  REQUIRE(v.grad().to_vector_f64() == std::vector<double>{1, 1, 0, 0, 3});
}

TEST_CASE("out-of-range indices throw naming the op and the index", "[ops][index]") {
  Tensor x = Tensor::arange(0, 12).reshape({3, 4});
  REQUIRE_THROWS_WITH(index_select(x, 0, Tensor::from_vector_i64({0, 7, 1}, {3})),
                      Catch::Contains("index_select") && Catch::Contains("index 7") && Catch::Contains("position 1"));
  REQUIRE_THROWS_WITH(index_select(x, 1, Tensor::from_vector_i64({-1}, {1}, DType::I32)),
                      Catch::Contains("index_select") && Catch::Contains("index -1"));
  REQUIRE_THROWS_WITH(gather(x, 1, Tensor::from_vector_i64({0, 4}, {1, 2})),
                      Catch::Contains("gather") && Catch::Contains("index 4") && Catch::Contains("size 4"));
  REQUIRE_THROWS_AS(index_select(x, 0, Tensor::zeros({2, 2}, DType::I64)), Error);  // 2-D index
}

TEST_CASE("CUDA concat / stack / index_select / gather match the CPU (f32, bf16)", "[ops][index][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  Tensor a = rand_f32({3, 49, 5}, 1), b = rand_f32({3, 7, 5}, 2), c = rand_f32({3, 49, 5}, 3);
  // Repeated indices exercise the atomic adjoints.
  Tensor rows = Tensor::from_vector_i64({48, 0, 3, 48, 17, 3, 3, 40}, {8});
  std::vector<int64_t> gidx(3 * 49 * 2);
  for (size_t i = 0; i < gidx.size(); ++i) gidx[i] = int64_t((i * 7 + i / 5) % 5);
  Tensor gather_idx = Tensor::from_vector_i64(gidx, {3, 49, 2}, DType::I32);
  for (DType dt : {DType::F32, DType::BF16}) {
    double tol = dt == DType::F32 ? 1e-5 : 1e-2;
    INFO("dtype " << dtype_name(dt));
    check_cuda_matches_cpu("concat", [](const std::vector<Tensor>& in) { return concat(in, 1); }, {a, b, c}, dt, tol);
    check_cuda_matches_cpu("stack", [](const std::vector<Tensor>& in) { return stack(in, 2); }, {a, c}, dt, tol);
    check_cuda_matches_cpu("index_select", [](const std::vector<Tensor>& in) { return index_select(in[0], 1, in[1]); },
                           {a, rows}, dt, tol);
    check_cuda_matches_cpu("gather", [](const std::vector<Tensor>& in) { return gather(in[0], 2, in[1]); },
                           {a, gather_idx}, dt, tol);
  }
  Tensor xg = a.to(cuda_device());
  REQUIRE_THROWS_WITH(index_select(xg, 1, Tensor::from_vector_i64({1, 49}, {2}, DType::I64, cuda_device())),
                      Catch::Contains("index_select") && Catch::Contains("index 49"));
  REQUIRE_THROWS_WITH(gather(xg, 0, Tensor::full({1, 1, 1}, -2, DType::I32, cuda_device())),
                      Catch::Contains("gather") && Catch::Contains("index -2"));
}
