// Op-table rows: causal scaled_dot_product_attention (kernels/attention.h: top-left aligned, query i
// sees keys j <= i). The gradchecks take odd lengths and Sq != Skv both ways; the CUDA shapes are the
// fused kernels' (head dim 32, 64, 128) at CLIP's 77 tokens, ViT's 197 and lengths where the forward
// skips key tiles and the backward query tiles; the bench case is CLIP's text-tower attention.
#include "tests/op_table/op_table.h"

namespace iqa::op_table {

namespace {

Operands qkv(int64_t b, int64_t h, int64_t sq, int64_t skv, int64_t d) {
  return {op({b, h, sq, d}), op({b, h, skv, d}), op({b, h, skv, d})};
}

}  // namespace

void add_attention_rows(std::vector<OpCase>& t) {
  const std::vector<DType> all = {DType::F32, DType::BF16, DType::F16};
  OpCase c;
  c.name = "scaled_dot_product_attention causal";
  c.fn = [](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], std::nullopt, /*causal=*/true);
  };
  c.gradcheck = {qkv(1, 2, 7, 7, 4), qkv(2, 1, 3, 6, 3), qkv(1, 1, 6, 3, 4), qkv(1, 1, 1, 1, 2)};
  c.device = {{qkv(2, 3, 77, 77, 64), all, 1},
              {qkv(1, 2, 197, 197, 32), {}, -1},
              {qkv(1, 2, 65, 200, 128), {}, -1},
              {qkv(1, 2, 200, 65, 64), {}, -1}};
  c.dtypes = {DType::BF16, DType::F16};
  c.tol = [](DType dt, size_t which) {
    if (dt != DType::F32) return Tol{2e-2, 2e-2};
    return which == 0 ? Tol{1e-5, 1e-5} : Tol{1e-4, 1e-4};
  };
  BenchShape b;
  b.name = "attention_causal_fwd";
  b.full = qkv(4, 8, 77, 77, 64);
  b.small = qkv(1, 8, 77, 77, 64);
  // The visible triangle's two products: 2 x 2*D per (query, seen key), S(S+1)/2 pairs per head.
  b.cost = [](const Operands& o, DType) {
    const Shape& s = o[0].shape;
    const double pairs = double(s[2]) * double(s[2] + 1) / 2;
    return BenchCost{0, 4.0 * double(s[0]) * double(s[1]) * pairs * double(s[3])};
  };
  c.bench.push_back(b);
  t.push_back(c);

  // The composite the fused rows are checked against in tests/test_attention_causal.cpp, under
  // finite differences of its own (the -inf entries must carry no gradient).
  c = OpCase();
  c.name = "scaled_dot_product_attention_unfused causal";
  c.fn = [](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention_unfused(in[0], in[1], in[2], 0.6, /*causal=*/true);
  };
  c.gradcheck = {qkv(1, 2, 5, 5, 3), qkv(1, 1, 4, 6, 3)};
  t.push_back(c);
}

}  // namespace iqa::op_table
