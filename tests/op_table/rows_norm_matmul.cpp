// Op-table rows: softmax / log_softmax, layer_norm, matmul / bmm / linear / linear_gelu and attention.
// The softmax widths pick the CUDA paths (768 bf16 vectorised warp, 250 scalar warp, 3000 block,
// dim 1 the transpose path); the layer_norm widths the warp and block kernels.
#include "tests/op_table/op_table.h"

namespace iqa::op_table {

namespace {

void add_softmax_rows(std::vector<OpCase>& t) {
  for (bool log : {false, true}) {
    for (int dim : {-1, 1, 0}) {
      OpCase c;
      c.name = std::string(log ? "log_softmax" : "softmax") + " dim " + std::to_string(dim);
      c.fn = [log, dim](const std::vector<Tensor>& in) { return log ? log_softmax(in[0], dim) : softmax(in[0], dim); };
      c.gradcheck = {{op({2, 3, 4}, -2, 2)}};
      auto dev = [](Shape s, DType dt) { return DeviceCheck{{op(std::move(s), -3, 3)}, {dt}, -1}; };
      if (dim == -1)
        c.device = {dev({197, 768}, DType::BF16), dev({3, 49, 250}, DType::F32), dev({3, 49, 250}, DType::F16),
                    dev({5, 3000}, DType::F32),   dev({7, 3001}, DType::BF16),  dev({197, 1024}, DType::F32)};
      if (dim == 1) c.device = {dev({3, 49, 11}, DType::F32)};
      c.tol = by_dtype(1e-5, 2e-2);
      c.grad_lo = -3;
      c.grad_hi = 3;
      if (!log && dim == -1) {
        BenchShape b;
        b.name = "softmax";
        b.full = {op({12608, 768})};
        b.small = {op({1024, 768})};
        b.cost = [](const Operands& o, DType dt) { return BenchCost{2.0 * numel_of(o[0].shape) * double(dtype_size(dt))}; };
        c.bench.push_back(b);
      }
      t.push_back(std::move(c));
    }
  }
}

void add_layer_norm_rows(std::vector<OpCase>& t) {
  auto dev = [](Shape s, DType dt, bool affine) {
    const int64_t C = s.back();
    Operands o{op(std::move(s), -3, 3)};
    if (affine) o.insert(o.end(), {op({C}), op({C})});
    return DeviceCheck{o, {dt}, -1};
  };
  // Column sums over up to 197 rows for the weight and bias gradients: the narrow result's rounding
  // dominates, so those get a wider tolerance.
  const TolRule tol = [](DType dt, size_t which) {
    const double narrow = which >= 2 ? 5e-2 : 3e-2;
    return dt == DType::F32 ? Tol{1e-4, 1e-4} : Tol{narrow, narrow};
  };

  OpCase affine;
  affine.name = "layer_norm";
  affine.fn = [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); };
  affine.gradcheck = {{op({2, 3, 6}, -2, 2), op({6}), op({6})}};
  affine.device = {dev({197, 768}, DType::BF16, true), dev({3, 49, 100}, DType::F32, true),
                   dev({3, 5, 1500}, DType::F32, true), dev({2, 3, 4099}, DType::BF16, true),
                   dev({1031, 64}, DType::F32, true)};
  affine.tol = tol;
  affine.grad_lo = -3;
  affine.grad_hi = 3;
  BenchShape b;
  b.name = "layer_norm";
  b.full = {op({12608, 768}), op({768}), op({768})};
  b.small = {op({1024, 768}), op({768}), op({768})};
  b.cost = [](const Operands& o, DType dt) {
    return BenchCost{(2.0 * numel_of(o[0].shape) + 2.0 * numel_of(o[1].shape)) * double(dtype_size(dt))};
  };
  affine.bench.push_back(b);
  t.push_back(affine);

  OpCase plain = affine;
  plain.name = "layer_norm without affine";
  plain.fn = [](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor()); };
  plain.gradcheck.clear();
  plain.device = {dev({3, 49, 37}, DType::F16, false)};
  plain.bench.clear();
  t.push_back(plain);

  OpCase eps;
  eps.name = "layer_norm without affine, eps 1e-3";
  eps.fn = [](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor(), 1e-3); };
  eps.gradcheck = {{op({4, 5}, -2, 2)}};
  t.push_back(eps);

  OpCase strided;
  strided.name = "layer_norm of a transposed input, weight only";
  strided.fn = [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], Tensor()); };
  strided.gradcheck = {{op({5, 3}, -2, 2, Layout::Transposed), op({5})}};
  t.push_back(strided);

  // The residual add fused with the LayerNorm after it: two outputs (sum, the next residual, and out),
  // gradients arriving at both as in a transformer block. Results: 0 sum, 1 out, 2 dx, 3 dresidual,
  // 4 dweight, 5 dbias.
  OpCase fused;
  fused.name = "add_layer_norm";
  fused.outputs = [](const std::vector<Tensor>& in) {
    AddLayerNormResult r = add_layer_norm(in[0], in[1], in[2], in[3]);
    return std::vector<Tensor>{r.sum, r.out};
  };
  fused.gradcheck = {{op({2, 3, 6}, -2, 2), op({2, 3, 6}, -2, 2), op({6}), op({6})}};
  auto pair = [](Shape s, DType dt) {
    const int64_t C = s.back();
    return DeviceCheck{{op(s, -3, 3), op(s, -3, 3), op({C}), op({C})}, {dt}, -1};
  };
  fused.device = {pair({197, 768}, DType::BF16), pair({3, 49, 100}, DType::F32), pair({2, 3, 4099}, DType::BF16)};
  fused.tol = [](DType dt, size_t which) {
    const double narrow = which >= 4 ? 5e-2 : 3e-2;
    return dt == DType::F32 ? Tol{1e-4, 1e-4} : Tol{narrow, narrow};
  };
  fused.grad_lo = -3;
  fused.grad_hi = 3;
  // iqa-bench's add_layer_norm (bench/torch_peer_vit.py's peer): forward and backward at ViT-B/16's
  // 12608 x 768 rows. The traffic counted is what fused kernels need at least (x and residual in, sum
  // and out written; sum, both upstream gradients in and dx out; sum and g_out again for the weight
  // and bias sums: 10 slabs), the peer's count too; autograd's extra passes (adding g_sum, the leaves'
  // gradient copies) are part of the time, so GB/s is an effective figure.
  BenchShape fb;
  fb.name = "add_layer_norm";
  fb.full = {op({12608, 768}), op({12608, 768}), op({768}), op({768})};
  fb.small = {op({1024, 768}), op({1024, 768}), op({768}), op({768})};
  fb.cost = [](const Operands& o, DType dt) { return BenchCost{10.0 * numel_of(o[0].shape) * double(dtype_size(dt))}; };
  fb.backward = true;
  fused.bench.push_back(fb);
  t.push_back(fused);
}

// y = x W^T + b with W in PyTorch's [out, in] layout, at ViT-B/16's QKV or MLP width, batch 256.
BenchShape linear_bench(const char* name, int64_t out) {
  BenchShape b;
  b.name = name;
  b.full = {op({50432, 768}), op({out, 768}), op({out})};
  b.small = {op({1024, 768}), op({out, 768}), op({out})};
  b.label = [](const Operands& o) { return dims_str({o[0].shape[0], o[0].shape[1], o[1].shape[0]}); };
  b.cost = [](const Operands& o, DType) {
    return BenchCost{0, 2.0 * numel_of(o[0].shape) * double(o[1].shape[0])};
  };
  return b;
}

void add_matmul_rows(std::vector<OpCase>& t) {
  const TolRule gemm_tol = [](DType dt, size_t which) {
    if (dt != DType::F32) return Tol{2e-2, 2e-2};
    return which == 0 ? Tol{1e-5, 1e-5} : Tol{1e-4, 1e-4};
  };
  const std::vector<DType> all = {DType::F32, DType::BF16, DType::F16};
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };

  OpCase c;
  c.name = "matmul, broadcast batch";
  c.fn = mm;
  c.gradcheck = {{op({2, 1, 3, 4}), op({3, 4, 5})}};
  t.push_back(c);

  c = OpCase();
  c.name = "matmul, transposed right operand";
  c.fn = mm;
  c.gradcheck = {{op({2, 3, 4}), op({5, 4}, -1, 1, Layout::Transposed)}};
  c.device = {{{op({3, 49, 17}), op({1, 29, 17}, -1, 1, Layout::Transposed)}}};  // a broadcast batch too
  c.dtypes = all;
  c.backward = false;
  c.tol = gemm_tol;
  t.push_back(c);

  c = OpCase();
  c.name = "matmul, vector on the left";
  c.fn = mm;
  c.gradcheck = {{op({4}), op({2, 4, 3})}};
  t.push_back(c);

  c = OpCase();
  c.name = "bmm";
  c.fn = [](const std::vector<Tensor>& in) { return bmm(in[0], in[1]); };
  c.gradcheck = {{op({2, 3, 4}), op({2, 4, 3})}};
  t.push_back(c);

  c = OpCase();
  c.name = "linear";
  c.fn = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  c.gradcheck = {{op({2, 3, 4}), op({5, 4}), op({5})}};
  c.device = {{{op({197, 61}), op({33, 61}), op({33})}, all, 0},
              {{op({3, 49, 40}), op({24, 40}), op({24})}, {DType::F32}, 1}};
  c.tol = gemm_tol;
  c.grad_lo = -1;
  c.bench = {linear_bench("linear_qkv", 2304), linear_bench("linear_mlp", 3072)};
  t.push_back(c);

  for (GeluApprox approx : {GeluApprox::None, GeluApprox::Tanh}) {
    c = OpCase();
    c.name = approx == GeluApprox::None ? "linear_gelu erf" : "linear_gelu tanh";
    c.fn = [approx](const std::vector<Tensor>& in) { return linear_gelu(in[0], in[1], in[2], approx); };
    c.gradcheck = {{op({3, 4}), op({5, 4}), op({5})}};
    c.device = {{{op({197, 61}), op({33, 61}), op({33})}, all, 0}};
    if (approx == GeluApprox::None) c.device.push_back({{op({3, 49, 40}), op({24, 40}), op({24})}, {DType::F32}, 1});
    c.tol = gemm_tol;
    c.grad_lo = -1;
    t.push_back(c);
  }

  c = OpCase();
  c.name = "linear of a transposed input, no bias";
  c.fn = [](const std::vector<Tensor>& in) { return linear(in[0], in[1]); };
  c.gradcheck = {{op({4, 3}, -1, 1, Layout::Transposed), op({2, 4})}};
  t.push_back(c);

  const Operands qkv_small = {op({1, 2, 3, 4}), op({1, 2, 3, 4}), op({1, 2, 3, 4})};
  c = OpCase();
  c.name = "scaled_dot_product_attention, scale 0.7";
  c.fn = [](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2], 0.7); };
  c.gradcheck = {qkv_small};
  t.push_back(c);

  c = OpCase();
  c.name = "scaled_dot_product_attention";
  c.fn = [](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2]); };
  c.device = {{{op({2, 3, 49, 16}), op({2, 3, 49, 16}), op({2, 3, 49, 16})}, all, 0}};
  c.tol = gemm_tol;
  t.push_back(c);

  // The composite (S x S scores materialised) that iqa-bench's "sdpa" times: ViT-B attention at batch
  // 256, two GEMMs of 2*S*S*D per head (the softmax not counted).
  c = OpCase();
  c.name = "scaled_dot_product_attention_unfused";
  c.fn = [](const std::vector<Tensor>& in) { return scaled_dot_product_attention_unfused(in[0], in[1], in[2]); };
  c.gradcheck = {qkv_small};
  BenchShape b;
  b.name = "sdpa";
  for (int i = 0; i < 3; ++i) {
    b.full.push_back(op({256, 12, 197, 64}));
    b.small.push_back(op({4, 12, 197, 64}));
  }
  b.cost = [](const Operands& o, DType) {
    const Shape& s = o[0].shape;
    return BenchCost{0, 4.0 * double(s[0]) * double(s[1]) * double(s[2]) * double(s[2]) * double(s[3])};
  };
  c.bench.push_back(b);
  t.push_back(c);
}

}  // namespace

void add_norm_and_matmul_rows(std::vector<OpCase>& t) {
  for (auto add : {add_softmax_rows, add_layer_norm_rows, add_matmul_rows}) add(t);
}

}  // namespace iqa::op_table
