// Op-table rows: unary ops (CUDA against an f64 CPU reference on a packed-tail shape, a many-pack
// shape and a misaligned view; f64 gradchecks contiguous and through a transposed view), binary ops
// with broadcasting, where, and the reductions.
#include "tests/op_table/op_table.h"

namespace iqa::op_table {

namespace {

struct Unary {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
  double grad_lo, grad_hi;  // gradcheck domain, away from the kinks where possible
  double dev_lo, dev_hi;    // CUDA domain
  bool gradcheck, device;
};

std::vector<Unary> unary_ops() {
  return {
      {"neg", [](const Tensor& x) { return neg(x); }, -2, 2, -3, 3, true, true},
      {"exp", [](const Tensor& x) { return exp(x); }, -2, 2, -3, 2, true, true},
      {"log", [](const Tensor& x) { return log(x); }, 0.2, 3, 0.2, 3, true, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.2, 3, 0.2, 3, true, true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.2, 3, 0.2, 3, true, true},
      {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, -2, 2, 0, 0, true, false},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, -2, 2, -2, 2, true, true},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, 0.2, 3, 0, 0, true, false},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, 0.2, 3, 0.2, 3, true, true},
      {"abs", [](const Tensor& x) { return abs(x); }, -2, 2, -3, 3, true, true},
      {"sign", [](const Tensor& x) { return sign(x); }, 0, 0, -3, 3, false, true},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.75); }, -2, 2, -2, 2, true, true},
      {"clamp lo", [](const Tensor& x) { return clamp(x, 0.3, std::nullopt); }, -2, 2, 0, 0, true, false},
      {"clamp hi", [](const Tensor& x) { return clamp(x, std::nullopt, -0.3); }, -2, 2, 0, 0, true, false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -4, 4, -5, 5, true, true},
      {"tanh", [](const Tensor& x) { return tanh(x); }, -3, 3, -3, 3, true, true},
      {"relu", [](const Tensor& x) { return relu(x); }, -2, 2, -3, 3, true, true},
      {"gelu", [](const Tensor& x) { return gelu(x); }, -4, 4, -5, 5, true, true},
      {"gelu tanh", [](const Tensor& x) { return gelu(x, GeluApprox::Tanh); }, -4, 4, -5, 5, true, true},
      {"quick_gelu", [](const Tensor& x) { return quick_gelu(x); }, -4, 4, -5, 5, true, true},
  };
}

// The device computes in f32 whatever the storage: f32 results within rounding, narrow ones within
// the output dtype's rounding.
Tol unary_tol(DType dt, size_t) {
  if (dt == DType::F32) return {1e-5, 1e-6};
  if (dt == DType::F16) return {2e-3, 2e-3};
  return {2e-2, 2e-2};
}

// Memory-bound bench shapes: ViT-B/16 at batch 64 is 12608 rows of 768 (--small: 1024 rows).
BenchShape slab_bench(const char* name, int operands, double passes) {
  BenchShape b;
  b.name = name;
  for (int i = 0; i < operands; ++i) {
    b.full.push_back(op({12608, 768}));
    b.small.push_back(op({1024, 768}));
  }
  b.cost = [passes](const Operands& o, DType dt) {
    return BenchCost{passes * numel_of(o[0].shape) * double(dtype_size(dt)), 0};
  };
  return b;
}

void add_unary_rows(std::vector<OpCase>& t) {
  for (const Unary& u : unary_ops()) {
    OpCase c;
    c.name = u.name;
    auto fn = u.fn;
    c.fn = [fn](const std::vector<Tensor>& in) { return fn(in[0]); };
    if (u.gradcheck)
      c.gradcheck = {{op({3, 5}, u.grad_lo, u.grad_hi)}, {op({3, 5}, u.grad_lo, u.grad_hi, Layout::Transposed)}};
    if (u.device)
      // 197x3: a tail after the last full 16-byte pack; 12608x7: many packs, no tail; a contiguous
      // view one element past an aligned start: the scalar (unaligned) path.
      c.device = {{{op({197, 3}, u.dev_lo, u.dev_hi)}},
                  {{op({12608, 7}, u.dev_lo, u.dev_hi)}},
                  {{op({592}, u.dev_lo, u.dev_hi, Layout::Offset)}}};
    c.tol = unary_tol;
    c.reference = DType::F64;
    c.grad_lo = -1;
    c.keeps_dtype = true;
    if (c.name == "gelu") {
      c.device.push_back({{op({197, 3}, -3, 3)}, {DType::F16}, 0});  // f16 forward through the same kernels
      c.bench.push_back(slab_bench("gelu", 1, 2.0));
    }
    t.push_back(std::move(c));
  }
}

void add_binary_rows(std::vector<OpCase>& t) {
  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  struct Binary {
    const char* name;
    Fn f;
    double b_lo;  // the broadcast operand's range starts here: divisors stay away from 0
  };
  const Binary binary[] = {{"add", add, 0.5},     {"sub", sub, 0.5},         {"mul", mul, 0.5},
                           {"div", div, 0.5},     {"maximum", maximum, -1}, {"minimum", minimum, -1}};
  for (const Binary& b : binary) {
    OpCase c;
    c.name = b.name;
    Fn f = b.f;
    c.fn = [f](const std::vector<Tensor>& in) { return f(in[0], in[1]); };
    c.gradcheck = {{op({3, 4}), op({4}, b.b_lo, b.b_lo < 0 ? 1 : 2)}};  // [3, 4] against a broadcast [4]
    if (c.name == "add") c.bench.push_back(slab_bench("add", 2, 3.0));
    t.push_back(std::move(c));
  }

  OpCase bcast;
  bcast.name = "broadcast gradients: (a * b) / b with b [7]";
  bcast.fn = [](const std::vector<Tensor>& in) { return div(mul(in[0], in[1]), in[1]); };
  bcast.device = {{{op({12608, 7}), op({7}, 0.5, 2)}}};
  bcast.reference = DType::F64;
  bcast.grad_lo = bcast.grad_hi = 1;  // d sum(.): the column sums of b's gradient are 12608 terms
  bcast.tol = [](DType dt, size_t which) {
    const bool f32 = dt == DType::F32;
    // bf16 rounds every product before the f32 column sum of b's gradient.
    if (which == 2) return f32 ? Tol{1e-4, 1e-3} : Tol{2e-2, 0.5};
    return f32 ? Tol{1e-5, 1e-6} : Tol{2e-2, 2e-2};
  };
  t.push_back(std::move(bcast));

  OpCase w;
  w.name = "where, broadcast condition [3, 1]";
  const Tensor cond = Tensor::from_vector({1, 0, 1}, {3, 1}, DType::U8);
  w.fn = [cond](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); };
  w.gradcheck = {{op({3, 4}), op({4})}};
  t.push_back(std::move(w));
}

void add_reduction_rows(std::vector<OpCase>& t) {
  const std::pair<const char*, OpFn> reductions[] = {
      {"sum dim 1", [](const std::vector<Tensor>& in) { return sum(in[0], {1}); }},
      {"mean dim 0 keepdim", [](const std::vector<Tensor>& in) { return mean(in[0], {0}, true); }},
      {"var dim 1", [](const std::vector<Tensor>& in) { return var(in[0], {1}); }},
      {"transpose + strided slice", [](const std::vector<Tensor>& in) { return in[0].transpose(0, 1).slice(0, 1, 4, 2); }},
  };
  for (const auto& [name, f] : reductions) {
    OpCase c;
    c.name = name;
    c.fn = f;
    c.gradcheck = {{op({3, 4})}};
    t.push_back(std::move(c));
  }
}

}  // namespace

void add_elementwise_rows(std::vector<OpCase>& t) {
  for (auto add : {add_binary_rows, add_unary_rows, add_reduction_rows}) add(t);
}

}  // namespace iqa::op_table
