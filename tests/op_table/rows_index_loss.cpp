// Op-table rows: concat / stack / index_select / gather (repeated indices, so the scatter-add adjoints
// must sum) and the losses, SIND's scene losses and LocalGlobal head included.
#include "tests/op_table/op_table.h"

namespace iqa::op_table {

namespace {

void add_index_rows(std::vector<OpCase>& t) {
  const TolRule tol = by_dtype(1e-5, 1e-2);
  OpCase c;
  c.name = "concat dim 1";
  c.fn = [](const std::vector<Tensor>& in) { return concat(in, 1); };
  c.gradcheck = {{op({2, 3, 4}), op({2, 1, 4}), op({2, 5, 4})}};
  c.device = {{{op({3, 49, 5}), op({3, 7, 5}), op({3, 49, 5})}}};
  c.tol = tol;
  t.push_back(c);
  for (int dim : {1, 2, 3}) {
    c = OpCase();
    c.name = "stack dim " + std::to_string(dim);
    c.fn = [dim](const std::vector<Tensor>& in) { return stack(in, dim); };
    if (dim != 2) c.gradcheck = {{op({2, 3, 4}), op({2, 3, 4})}};
    if (dim == 2) c.device = {{{op({3, 49, 5}), op({3, 49, 5})}}};
    c.tol = tol;
    t.push_back(c);
  }

  c = OpCase();
  c.name = "index_select dim 1, repeated i64 indices";
  c.fn = [](const std::vector<Tensor>& in) { return index_select(in[0], 1, in[1]); };
  c.gradcheck = {{op({3, 5, 4}), fixed(Tensor::from_vector_i64({4, 1, 4, 0, 4}, {5}))}};
  c.device = {{{op({3, 49, 5}), fixed(Tensor::from_vector_i64({48, 0, 3, 48, 17, 3, 3, 40}, {8}))}}};
  c.tol = tol;
  t.push_back(c);
  c = OpCase();
  c.name = "index_select dim 2, i32 indices";
  c.fn = [](const std::vector<Tensor>& in) { return index_select(in[0], 2, in[1]); };
  c.gradcheck = {{op({3, 5, 4}), fixed(Tensor::from_vector_i64({3, 0, 3}, {3}, DType::I32))}};
  t.push_back(c);

  c = OpCase();
  c.name = "gather dim 0";
  c.fn = [](const std::vector<Tensor>& in) { return gather(in[0], 0, in[1]); };
  c.gradcheck = {{op({3, 5, 4}), fixed(Tensor::from_vector_i64({0, 2, 2, 1, 1, 1, 0, 0, 2, 2, 0, 1}, {2, 2, 3}))}};
  t.push_back(c);
  std::vector<int64_t> gidx(3 * 49 * 2);
  for (size_t i = 0; i < gidx.size(); ++i) gidx[i] = int64_t((i * 7 + i / 5) % 5);
  c = OpCase();
  c.name = "gather dim 2";
  c.fn = [](const std::vector<Tensor>& in) { return gather(in[0], 2, in[1]); };
  c.gradcheck = {{op({3, 5, 4}), fixed(Tensor::from_vector_i64({3, 3, 0, 1, 2, 3}, {1, 2, 3}))}};
  c.device = {{{op({3, 49, 5}), fixed(Tensor::from_vector_i64(gidx, {3, 49, 2}, DType::I32))}}};
  c.tol = tol;
  t.push_back(c);
}

void add_loss_rows(std::vector<OpCase>& t) {
  // Hand values that keep |pred - target| away from 0 and from beta, where the losses have kinks.
  const Operands kinkless = {fixed(Tensor::from_vector_f64({0.3, -1.2, 2.0, 0.9, -0.4, 1.7}, {2, 3})),
                             fixed(Tensor::from_vector_f64({-0.5, -0.1, 1.8, 2.5, 0.6, 1.0}, {2, 3}))};
  const DeviceCheck regression = {{op({197, 3}, -2, 2), op({197, 3}, -2, 2)}};
  struct Regression {
    const char* name;
    OpFn fn;
    bool gradcheck, device;
  };
  const Regression losses[] = {
      {"l1_loss", [](const std::vector<Tensor>& in) { return l1_loss(in[0], in[1]); }, true, true},
      {"mse_loss", [](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); }, true, true},
      {"smooth_l1_loss beta 1", [](const std::vector<Tensor>& in) { return smooth_l1_loss(in[0], in[1], 1.0); }, true, false},
      {"smooth_l1_loss beta 0.5", [](const std::vector<Tensor>& in) { return smooth_l1_loss(in[0], in[1], 0.5); }, true, false},
      {"smooth_l1_loss beta 0.7", [](const std::vector<Tensor>& in) { return smooth_l1_loss(in[0], in[1], 0.7); }, false, true},
  };
  // The CUDA losses are compared forward, in f32.
  auto forward_f32 = [](OpCase& c) {
    c.dtypes = {DType::F32};
    c.backward = false;
    c.tol = by_dtype(Tol{1e-5, 1e-6}, Tol{1e-5, 1e-6});
  };
  for (const Regression& r : losses) {
    OpCase c;
    c.name = r.name;
    c.fn = r.fn;
    if (r.gradcheck) c.gradcheck = {kinkless};
    if (r.device) c.device = {regression};
    forward_f32(c);
    t.push_back(c);
  }

  std::vector<int64_t> labels;
  for (int i = 0; i < 49; ++i) labels.push_back((i * 7) % 11);
  OpCase c;
  c.name = "cross_entropy";
  c.fn = [](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1]); };
  c.gradcheck = {{op({3, 5}, -2, 2), fixed(Tensor::from_vector_i64({4, 0, 2}, {3}))}};
  c.device = {{{op({49, 11}, -2, 2), fixed(Tensor::from_vector_i64(labels, {49}))}}};
  forward_f32(c);
  t.push_back(c);
  c = OpCase();
  c.name = "cross_entropy_soft";
  c.fn = [](const std::vector<Tensor>& in) { return cross_entropy_soft(in[0], in[1]); };
  c.gradcheck = {{op({3, 5}, -2, 2), fixed(random_probs({3, 5}, 22, DType::F64))}};
  c.device = {{{op({49, 11}, -2, 2), fixed(random_probs({49, 11}, 31, DType::F32))}}};
  forward_f32(c);
  // iqa-bench: 64 x 1000 logits, forward and backward (launch bound: one launch each way matters).
  BenchShape b;
  b.name = "cross_entropy_soft";
  b.full = {op({64, 1000}), fixed(random_probs({64, 1000}, 32, DType::F32))};
  b.small = b.full;
  b.cost = [](const Operands& o, DType dt) { return BenchCost{5.0 * numel_of(o[0].shape) * double(dtype_size(dt))}; };
  b.backward = true;
  c.bench = {b};
  t.push_back(c);
}

// iqa-bench's scene losses: forward and backward of `batch` predictions in `scenes` equal chunks.
BenchShape scene_bench(const char* name, int64_t batch, int64_t scenes) {
  BenchShape b;
  b.name = name;
  b.full = {op({batch}), op({batch}, 0, 1), fixed(chunked_scenes(batch, scenes))};
  b.small = b.full;
  b.label = [scenes](const Operands& o) { return std::to_string(o[0].shape[0]) + "x" + std::to_string(scenes) + "scenes"; };
  b.cost = [](const Operands& o, DType dt) {
    return BenchCost{double(o[0].shape[0]) * (3.0 * double(dtype_size(dt)) + 8.0)};
  };
  b.backward = true;
  return b;
}

void add_iqa_rows(std::vector<OpCase>& t) {
  OpCase c;
  c.name = "scale_shift_loss";
  c.fn = [](const std::vector<Tensor>& in) { return scale_shift_loss(in[0], in[1], in[2]); };
  c.gradcheck = {{op({23}), op({23}, 0, 10), fixed(random_scenes(23, 3, 33))}};
  for (auto [n, scenes] : std::vector<std::pair<int, int>>{{1, 1}, {37, 5}, {64, 2}, {128, 4}, {300, 120}, {1025, 1}})
    c.device.push_back({{op({n}, -2, 2), op({n}, 0, 100), fixed(random_scenes(n, scenes, 53))}});
  c.tol = by_dtype(1e-5, 2e-2);
  c.bench = {scene_bench("scale_shift_loss", 64, 2), scene_bench("scale_shift_loss_128x4", 128, 4)};
  t.push_back(c);

  c = OpCase();
  c.name = "scene_l1_loss";
  c.fn = [](const std::vector<Tensor>& in) { return scene_l1_loss(in[0], in[1], in[2]); };
  c.gradcheck = {{op({19}), op({19}, 0, 10), fixed(random_scenes(19, 3, 73))}};
  for (int n : {1, 37, 64, 300}) c.device.push_back({{op({n}, -2, 2), op({n}, 0, 5), fixed(random_scenes(n, 3, 83))}});
  c.dtypes = {DType::F32};
  c.tol = by_dtype(1e-5, 1e-5);
  c.bench = {scene_bench("scene_l1_loss", 64, 2)};
  t.push_back(c);

  // SIND's head at ViT-B/16 shapes: B x 512 CLS, B x 196 x 768 tokens. The token slab is read once
  // (forward) and written once (backward); the rest is small.
  c = OpCase();
  c.name = "local_global_head";
  c.fn = [](const std::vector<Tensor>& in) { return local_global_head(in[0], in[1], in[2], in[3]); };
  c.gradcheck = {{op({2, 3}), op({2, 4, 5}), op({1, 8}), op({1})}};
  BenchShape b;
  b.name = "fusion_head";
  auto head_operands = [](int64_t batch) {
    return Operands{op({batch, 512}), op({batch, 196, 768}), op({1, 512 + 768}), op({1})};
  };
  b.full = head_operands(256);
  b.small = head_operands(16);
  b.label = [](const Operands& o) { return std::to_string(o[0].shape[0]) + "x196x768+512"; };
  b.cost = [](const Operands& o, DType dt) {
    return BenchCost{(2.0 * numel_of(o[1].shape) + 2.0 * numel_of(o[0].shape)) * double(dtype_size(dt))};
  };
  b.backward = true;
  c.bench = {b};
  t.push_back(c);
}

}  // namespace

void add_index_and_loss_rows(std::vector<OpCase>& t) {
  for (auto add : {add_index_rows, add_loss_rows, add_iqa_rows}) add(t);
}

}  // namespace iqa::op_table
