// The built-in cases of iqa-bench: the copy baselines written here, then the ops whose shapes come from
// the op table (tests/op_table/: ViT-B/16 training at batch 64, i.e. 64 images x 197 tokens = 12608
// rows of width 768, the GEMMs at batch 256, ResNet-50's stem). The --small variants keep the inner
// dims and shrink the batch so a CPU run takes seconds on two cores.
#include "bench/bench_ops.h"

#include <algorithm>
#include <cstring>

#include "engine/autograd.h"
#include "engine/cuda_runtime.h"
#include "engine/ops.h"
#include "tests/op_table/op_table.h"

namespace iqa::bench {

namespace {

std::string dims(std::initializer_list<int64_t> ds) {
  std::string s;
  for (auto d : ds) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

Tensor random(const Shape& shape, DType dtype, Device device) { return Tensor::randn(shape, dtype, device); }

std::vector<std::pair<std::string, BenchFactory>>& registered() {
  static std::vector<std::pair<std::string, BenchFactory>> r;
  return r;
}

// The baselines the memory-bound kernels are measured against: a plain memcpy, and the heads
// transpose [B, S, H, D] -> [B, H, S, D] at ViT-B/16's shape (a strided copy_).
BenchCase copy_case(const std::string& op, Device device, DType dtype, bool small) {
  BenchCase c;
  const double es = double(dtype_size(dtype));
  if (op == "copy_permute") {
    const int64_t B = small ? 4 : 64;
    Tensor src = random({B, 197, 12, 64}, dtype, device);
    c.shape = dims({B, 197, 12, 64});
    c.bytes = 2.0 * double(src.numel()) * es;
    c.run = [src] { src.permute({0, 2, 1, 3}).contiguous(); };
    return c;
  }
  const int64_t rows = small ? 1024 : 12608, cols = 768;
  const int64_t count = op == "copy" ? rows * cols : (small ? int64_t(1) << 22 : int64_t(1) << 27);
  Tensor src = random({count}, dtype, device), dst = Tensor::empty({count}, dtype, device);
  c.shape = op == "copy" ? dims({rows, cols}) : dims({count});
  c.bytes = 2.0 * double(count) * es;
  c.run = [src, dst] {
    if (src.is_cuda()) cuda::copy_d2d(dst.raw_data(), src.raw_data(), src.nbytes());
    else std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
  };
  return c;
}

// One op-table row at one bench shape: standard-normal inputs (fixed ones such as scene ids and
// probability targets as the row gives them, without gradients) on the device; with `backward`, under
// autograd with a fixed upstream gradient into every output at once, the gradients dropped after each
// call so nothing accumulates.
BenchCase table_case(const op_table::OpCase& row, const op_table::BenchShape& b, Device device, DType dtype,
                     bool small) {
  const op_table::Operands& operands = small ? b.small : b.full;
  std::vector<Tensor> in;
  for (const op_table::Operand& o : operands) {
    Tensor t = !o.fixed.defined()                ? random(o.shape, dtype, device)
               : is_floating(o.fixed.dtype()) ? o.fixed.to(device, dtype)
                                              : o.fixed.to(device);
    if (b.backward && !o.fixed.defined()) t.set_requires_grad(true);  // fixed operands are data: no gradient
    in.push_back(op_table::apply_layout(t, o.layout));
  }
  BenchCase c;
  c.shape = b.label ? b.label(operands) : op_table::dims_str(operands[0].shape);
  const op_table::BenchCost cost = b.cost(operands, dtype);
  c.bytes = cost.bytes;
  c.flops = cost.flops;
  const op_table::OpCase* r = &row;  // the table lives as long as the program
  if (!b.backward) {
    c.run = [r, in] { op_table::row_outputs(*r, in); };
    return c;
  }
  std::vector<Tensor> grad_out;
  for (const Tensor& probe : op_table::row_outputs(row, in))  // iqa-bench runs under NoGradGuard: no graph kept
    grad_out.push_back(probe.dim() == 0 ? Tensor() : random(probe.shape(), probe.dtype(), device));
  c.run = [r, in, grad_out]() mutable {
    EnableGradGuard grad;
    run_backward(op_table::row_outputs(*r, in), grad_out);
    for (Tensor& t : in)
      if (t.requires_grad()) t.zero_grad();
  };
  return c;
}

}  // namespace

BenchRegistrar::BenchRegistrar(const std::string& op, BenchFactory factory) {
  registered().emplace_back(op, std::move(factory));
}

BenchFactory op_table_bench(const std::string& name) {
  return [name](Device device, DType dtype, bool small) {
    for (const op_table::OpCase& row : op_table::op_cases())
      for (const op_table::BenchShape& b : row.bench)
        if (b.name == name) return table_case(row, b, device, dtype, small);
    fail(cat("iqa-bench: no op-table row has the bench case '", name, "'"));
  };
}

std::vector<std::string> bench_op_names() {
  std::vector<std::string> names = {"copy",        "copy_large", "copy_permute", "add",         "gelu",
                                    "softmax",     "layer_norm", "linear_qkv",   "linear_mlp",  "conv2d_stem",
                                    "sdpa",        "attention_causal_fwd"};
  for (const auto& [name, factory] : registered()) names.push_back(name);
  return names;
}

BenchCase make_bench_case(const std::string& op, Device device, DType dtype, bool small) {
  BenchCase c;
  if (op == "copy" || op == "copy_large" || op == "copy_permute") {
    c = copy_case(op, device, dtype, small);
  } else {
    bool found = false;
    for (const auto& [name, factory] : registered()) {
      if (name != op) continue;
      c = factory(device, dtype, small);
      found = true;
    }
    const std::vector<std::string> names = bench_op_names();
    if (!found && std::find(names.begin(), names.end(), op) != names.end()) {
      c = op_table_bench(op)(device, dtype, small);  // the built-in ones after the copies
      found = true;
    }
    if (!found) {
      std::string known;
      for (const auto& s : names) known += " " + s;
      fail(cat("iqa-bench: unknown op '", op, "' (known:", known, ")"));
    }
  }
  c.op = op;
  c.dtype = dtype;
  return c;
}

}  // namespace iqa::bench
