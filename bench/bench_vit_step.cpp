// iqa-bench cases for the kernels that decide a ViT training step (issue 3 §4), at ViT-B/16 batch-64
// shapes (64 x 197 = 12608 token rows). bench/torch_peer_vit.py times PyTorch's eager equivalents.
//
// Byte counts are the traffic the kernels actually move (every launch's reads and writes), so GB/s
// compares directly with the "copy" case's bandwidth.
//   bias_quick_gelu:  QuickGELU forward (pre in, y out) + backward (pre, g in; d(pre) out; bias-gradient
//                     partial sums): 5 slabs of 12608 x 3072, the passes of linear_quick_gelu without its GEMMs.
//   add_layer_norm:   the op-table row (tests/op_table/rows_norm_matmul.cpp): forward and backward under
//                     autograd, gradients into both outputs; counted as 10 slabs of 12608 x 768.
//   cross_entropy_soft: 64 x 1000 logits (launch bound: what matters is one launch each way).
//   adamw_multi_tensor / adamw_per_tensor / sgd_multi_tensor: ViT-B/16's ~150 fp32 parameter tensors
//                     (86M floats); AdamW moves 7 floats per element, SGD with momentum 5.
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_ops.h"
#include "engine/optim.h"
#include "engine/quick_gelu_passes.h"

namespace iqa::bench {
namespace {

std::string dims2(int64_t a, int64_t b) { return std::to_string(a) + "x" + std::to_string(b); }

// The two passes linear_quick_gelu runs around its GEMM (engine/quick_gelu_passes.h), timed alone.
BenchCase bias_quick_gelu_case(Device device, DType dtype, bool small) {
  const int64_t rows = small ? 1024 : 12608, cols = 3072;
  Tensor pre = Tensor::randn({rows, cols}, dtype, device), g = Tensor::randn({rows, cols}, dtype, device);
  Tensor y = Tensor::empty({rows, cols}, dtype, device), dpre = Tensor::empty({rows, cols}, dtype, device);
  Tensor db = Tensor::empty({cols}, dtype, device);
  BenchCase c;
  c.shape = dims2(rows, cols);
  c.bytes = 5.0 * double(pre.nbytes());
  c.run = [=] {
    quick_gelu_pass(pre, y);
    quick_gelu_backward_pass(pre, g, dpre, db);
  };
  return c;
}

// ViT-B/16's parameter tensors (OpenCLIP visual tower, width 768, 12 blocks, output 512), in order.
std::vector<int64_t> vit_b16_param_sizes(bool small) {
  const int64_t w = 768;
  std::vector<int64_t> s = {w, 197 * w, w * 512, w * 3 * 16 * 16, w, w};  // cls, pos, proj, conv1, ln_pre
  for (int i = 0; i < (small ? 2 : 12); ++i)
    for (int64_t n : {w, w, 3 * w * w, 3 * w, w * w, w, w, w, 4 * w * w, 4 * w, 4 * w * w, w}) s.push_back(n);
  s.push_back(w);  // ln_post
  s.push_back(w);
  return s;
}

enum class OptimKind { AdamWMulti, AdamWPerTensor, SgdMulti };

// The engine's optimizers (engine/optim.h) over ViT-B/16's parameters with fixed random gradients: AdamW
// at lr 1e-4 and weight decay 0.05, SGD with momentum 0.9 at lr 0.01; on CUDA one multi-tensor launch
// per group unless per-tensor (the CPU always updates tensor by tensor). Always fp32 (master weights),
// whatever --dtype says.
BenchCase optimizer_case(Device device, bool small, OptimKind kind) {
  std::vector<int64_t> sizes = vit_b16_param_sizes(small);
  ParamGroup group;
  int64_t total = 0;
  for (int64_t n : sizes) {
    Tensor p = Tensor::randn({n}, DType::F32, device);
    p.set_grad(Tensor::randn({n}, DType::F32, device));
    group.params.push_back(p);
    total += n;
  }
  std::shared_ptr<Optimizer> opt;
  if (kind == OptimKind::SgdMulti) {
    group.lr = 0.01;
    SGDOptions o;
    o.momentum = 0.9;
    opt = std::make_shared<SGD>(std::vector<ParamGroup>{group}, o);
  } else {
    group.lr = 1e-4;
    group.weight_decay = 0.05;
    opt = std::make_shared<AdamW>(std::vector<ParamGroup>{group});
  }
  opt->set_multi_tensor(kind != OptimKind::AdamWPerTensor);
  BenchCase c;
  c.shape = std::to_string(sizes.size()) + "tensors," + std::to_string(total);
  c.bytes = (kind == OptimKind::SgdMulti ? 5.0 : 7.0) * 4.0 * double(total);
  c.run = [opt] { opt->step(); };
  return c;
}

const BenchRegistrar bias_quick_gelu_reg("bias_quick_gelu", bias_quick_gelu_case);
const BenchRegistrar add_layer_norm_reg("add_layer_norm", op_table_bench("add_layer_norm"));  // an op-table row
const BenchRegistrar cross_entropy_reg("cross_entropy_soft", op_table_bench("cross_entropy_soft"));  // an op-table row
const BenchRegistrar adamw_multi_reg("adamw_multi_tensor", [](Device d, DType, bool small) {
  return optimizer_case(d, small, OptimKind::AdamWMulti);
});
const BenchRegistrar adamw_single_reg("adamw_per_tensor", [](Device d, DType, bool small) {
  return optimizer_case(d, small, OptimKind::AdamWPerTensor);
});
const BenchRegistrar sgd_multi_reg("sgd_multi_tensor", [](Device d, DType, bool small) {
  return optimizer_case(d, small, OptimKind::SgdMulti);
});

}  // namespace
}  // namespace iqa::bench
