// The op table's vocabulary: one OpCase per engine op configuration says how to make its inputs,
// at which shapes to check it (small ones for the f64 finite-difference gradcheck on the CPU, odd ones
// such as 197 tokens, 49 patches or batch 3 for CUDA against the CPU), in which dtypes, within which
// tolerance, and at which shapes iqa-bench times it. The rows are in tests/op_table/rows_*.cpp; the
// checks that read them in tests/test_op_table.cpp, the benchmarks in bench/bench_ops.cpp. Adding an op
// is a row there plus its kernels and backward rule.
//
// No test framework in this folder: iqa-bench compiles it too (CMakeLists.txt), so the table lives with
// the tests it mostly serves and the benchmark borrows it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace iqa::op_table {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;
// An op with several differentiable outputs (add_layer_norm's sum and out): each output is compared,
// and the backward sends an upstream gradient into every one of them at once.
using MultiOpFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// How the op sees an operand made as a contiguous leaf: as it is, with its last two dims swapped
// (a strided view), or one element past the start of a 1-D leaf (a misaligned view of numel-1).
enum class Layout { Contiguous, Transposed, Offset };

// One input: uniform random values in [lo, hi) (differentiable), or a fixed tensor passed as it is
// (indices and scene ids; a fixed floating tensor is differentiable like a random one).
struct Operand {
  Shape shape;
  double lo = -1, hi = 1;
  Layout layout = Layout::Contiguous;
  Tensor fixed;
};
using Operands = std::vector<Operand>;

inline Operand fixed(Tensor t) {
  Operand o;
  o.shape = t.shape();
  o.fixed = std::move(t);
  return o;
}

// One CUDA-vs-CPU comparison: the operands, and where they differ from the row's, the dtypes and
// whether the gradients are compared too.
struct DeviceCheck {
  Operands operands;
  std::vector<DType> dtypes = {};  // empty: the row's
  int backward = -1;               // -1: the row's; 0: forward only; 1: gradients too
};

struct Tol {
  double rtol, atol;
};
// Tolerance for result `which` (0 the output, k > 0 the gradient of the k-th differentiable operand;
// a row with n outputs numbers them 0..n-1 and the gradients from n) computed on the device in `dt`,
// against the CPU reference on the same rounded inputs.
using TolRule = std::function<Tol(DType dt, size_t which)>;
inline TolRule by_dtype(Tol f32, Tol narrow) {
  return [=](DType dt, size_t) { return dt == DType::F32 ? f32 : narrow; };
}
inline TolRule by_dtype(double f32, double narrow) { return by_dtype(Tol{f32, f32}, Tol{narrow, narrow}); }

// An iqa-bench case built from the row: its name (bench/gpu_check.sh and the PyTorch peers join on
// it), its ViT-B/16 or ResNet-50 operands and the reduced ones of --small, and the traffic or
// arithmetic of one call. Timed forward only, or forward plus backward under autograd.
struct BenchCost {
  double bytes = 0, flops = 0;
};
struct BenchShape {
  std::string name;
  Operands full, small;
  std::function<BenchCost(const Operands&, DType)> cost;
  std::function<std::string(const Operands&)> label;  // the "shape" column; empty: operand 0's dims
  bool backward = false;
};

struct OpCase {
  std::string name;
  OpFn fn;
  MultiOpFn outputs;  // instead of fn, for a row with several outputs
  std::vector<Operands> gradcheck;  // f64 central differences on the CPU, one check each; empty: off
  double gradcheck_tol = 1e-5;
  std::vector<DeviceCheck> device;  // CUDA against the CPU; empty: off
  std::vector<DType> dtypes = {DType::F32, DType::BF16};
  bool backward = true;
  TolRule tol = by_dtype(1e-4, 3e-2);
  DType reference = DType::F32;      // the CPU computes in this dtype
  double grad_lo = 0, grad_hi = 1;   // the upstream gradient's range (0-d outputs get 1)
  bool keeps_dtype = false;          // the device output must have the input dtype
  std::vector<BenchShape> bench;
};

// The row's outputs for these inputs: fn's one, or all of outputs'.
inline std::vector<Tensor> row_outputs(const OpCase& c, const std::vector<Tensor>& in) {
  return c.outputs ? c.outputs(in) : std::vector<Tensor>{c.fn(in)};
}

// "12608x768"
inline std::string dims_str(const Shape& s) {
  std::string out;
  for (int64_t d : s) out += (out.empty() ? "" : "x") + std::to_string(d);
  return out;
}

inline double numel_of(const Shape& s) {
  double n = 1;
  for (int64_t d : s) n *= double(d);
  return n;
}

// The operand the op sees for a leaf made at the operand's shape (see Layout).
inline Tensor apply_layout(const Tensor& leaf, Layout layout) {
  switch (layout) {
    case Layout::Transposed: return leaf.transpose(-2, -1);
    case Layout::Offset: return leaf.narrow(0, 1, leaf.numel() - 1);
    case Layout::Contiguous: break;
  }
  return leaf;
}

// Stable per-row seed (FNV-1a of the name), so a row's inputs do not change when rows are added.
inline uint64_t seed_of(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h >> 16;
}

// Every row, in a fixed order (built once).
const std::vector<OpCase>& op_cases();

// The row builders, one per file (tests/op_table/rows_<family>.cpp).
void add_elementwise_rows(std::vector<OpCase>& table);
void add_norm_and_matmul_rows(std::vector<OpCase>& table);
void add_conv_rows(std::vector<OpCase>& table);
void add_index_and_loss_rows(std::vector<OpCase>& table);
void add_attention_rows(std::vector<OpCase>& table);

// Helpers for rows.
Operand op(Shape shape, double lo = -1, double hi = 1, Layout layout = Layout::Contiguous);
// Scene ids 100 + floor(u * scenes) from a seeded uniform draw: unsorted, of uneven sizes.
Tensor random_scenes(int64_t n, int scenes, uint64_t seed);
// `batch` ids in `scenes` equal consecutive chunks (iqa-bench's scene losses).
Tensor chunked_scenes(int64_t batch, int64_t scenes);
// Softmax over dim 1 of seeded uniform [-1, 1) logits: probability targets, in dtype.
Tensor random_probs(const Shape& shape, uint64_t seed, DType dtype);
// "<operand 0's dims><suffix>": the shape label of the convolution and pool benchmarks.
std::string dims_with(const Operands& operands, const char* suffix);

}  // namespace iqa::op_table
