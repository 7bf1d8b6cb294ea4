// The op table assembled from its row files, and the helpers the rows share.
#include "tests/op_table/op_table.h"

#include "engine/autograd.h"
#include "engine/random.h"

namespace iqa::op_table {

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> table = [] {
    std::vector<OpCase> t;
    add_elementwise_rows(t);
    add_norm_and_matmul_rows(t);
    add_conv_rows(t);
    add_index_and_loss_rows(t);
    add_attention_rows(t);
    return t;
  }();
  return table;
}

Operand op(Shape shape, double lo, double hi, Layout layout) {
  return Operand{std::move(shape), lo, hi, layout, Tensor()};
}

Tensor random_scenes(int64_t n, int scenes, uint64_t seed) {
  manual_seed(seed);
  std::vector<float> u = Tensor::rand({n}).to_vector();
  std::vector<int64_t> s(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s[size_t(i)] = 100 + int64_t(u[size_t(i)] * float(scenes));
  return Tensor::from_vector_i64(s, {n});
}

Tensor chunked_scenes(int64_t batch, int64_t scenes) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < batch; ++i) ids.push_back(i / (batch / scenes));
  return Tensor::from_vector_i64(ids, {batch});
}

Tensor random_probs(const Shape& shape, uint64_t seed, DType dtype) {
  manual_seed(seed);
  NoGradGuard ng;
  return softmax(add(mul(Tensor::rand(shape, DType::F64), 2.0), -1.0), 1).to(dtype);
}

std::string dims_with(const Operands& operands, const char* suffix) { return dims_str(operands[0].shape) + suffix; }

}  // namespace iqa::op_table
