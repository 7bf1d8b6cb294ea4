// concat, stack, index_select and gather: hand values, the summed gradient of repeated indices and
// bad-index errors (CPU and CUDA). Gradchecks and CUDA-vs-CPU: tests/op_table/rows_index_loss.cpp.
#include "engine/random.h"
#include "kernels/index.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

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

TEST_CASE("index_select gradients sum over repeated indices", "[ops][index]") {
  Tensor rows = Tensor::from_vector_i64({4, 1, 4, 0, 4}, {5});
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

TEST_CASE("CUDA index_select and gather reject out-of-range indices naming the op", "[ops][index][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  Tensor xg = rand_f64({3, 49, 5}, -1, 1, 1).detach().to(DType::F32).to(cuda_device());
  // Found on the device; thrown at the next copy to the host (at the op under IQA_CUDA_SYNC_CHECK=1).
  REQUIRE_THROWS_WITH(index_select(xg, 1, Tensor::from_vector_i64({1, 49}, {2}, DType::I64, cuda_device())).to(kCPU),
                      Catch::Contains("index_select") && Catch::Contains("index 49") && Catch::Contains("size 49"));
  REQUIRE_THROWS_WITH(gather(xg, 0, Tensor::full({1, 1, 1}, -2, DType::I32, cuda_device())).to(kCPU),
                      Catch::Contains("gather") && Catch::Contains("index -2") && Catch::Contains("dim 0"));
  // Reported once: the record is cleared, and a good gather reads back its values.
  const Tensor good = gather(xg, 1, Tensor::full({3, 1, 5}, 48, DType::I64, cuda_device()));
  REQUIRE(good.to(kCPU).to_vector() == xg.to(kCPU).narrow(1, 48, 1).contiguous().to_vector());
}

TEST_CASE("A device index fault names the op, the index, its position, the dim and its size", "[ops][index]") {
  kernels::IndexFault f;
  f.op = kernels::IndexOp::Gather;
  f.dim = 1, f.position = 3, f.value = 7, f.limit = 5;
  CHECK_THAT(kernels::index_fault_message(f),
             Catch::StartsWith("gather: index 7 (at position 3) is out of range for dim 1 of size 5") &&
                 Catch::Contains("IQA_CUDA_SYNC_CHECK=1"));
  f.op = kernels::IndexOp::IndexSelect;
  CHECK_THAT(kernels::index_fault_message(f), Catch::StartsWith("index_select: index 7"));
}
