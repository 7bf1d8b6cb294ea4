// Shapes come from ViT-B/16 training at batch 64 (64 images x 197 tokens = 12608 rows of width 768;
// the GEMMs at batch 256: 50432 rows) and ResNet-50's stem convolution. The CPU `small` variants keep
// the inner dims and shrink the batch so a run takes seconds on two cores.
#include "bench/bench_ops.h"

#include <cstring>

#include "engine/cuda_runtime.h"
#include "engine/ops.h"

namespace iqa::bench {

namespace {

std::string dims(std::initializer_list<int64_t> ds) {
  std::string s;
  for (auto d : ds) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

Tensor random(const Shape& shape, DType dtype, Device device) { return Tensor::randn(shape, dtype, device); }

}  // namespace

namespace {
std::vector<std::pair<std::string, BenchFactory>>& registered() {
  static std::vector<std::pair<std::string, BenchFactory>> r;
  return r;
}
}  // namespace

BenchRegistrar::BenchRegistrar(const std::string& op, BenchFactory factory) {
  registered().emplace_back(op, std::move(factory));
}

std::vector<std::string> bench_op_names() {
  std::vector<std::string> names = {"copy",        "copy_large", "copy_permute", "add",         "gelu",
                                    "softmax",     "layer_norm", "linear_qkv",   "linear_mlp",  "conv2d_stem",
                                    "sdpa"};
  for (const auto& [name, factory] : registered()) names.push_back(name);
  return names;
}

BenchCase make_bench_case(const std::string& op, Device device, DType dtype, bool small) {
  BenchCase c;
  c.op = op;
  c.dtype = dtype;
  const double es = double(dtype_size(dtype));
  const int64_t rows = small ? 1024 : 12608, cols = 768;
  const double n = double(rows) * double(cols);

  if (op == "copy" || op == "copy_large") {
    // A plain memcpy: the bandwidth the memory-bound kernels are measured against.
    const int64_t count = op == "copy" ? rows * cols : (small ? int64_t(1) << 22 : int64_t(1) << 27);
    Tensor src = random({count}, dtype, device), dst = Tensor::empty({count}, dtype, device);
    c.shape = op == "copy" ? dims({rows, cols}) : dims({count});
    c.bytes = 2.0 * double(count) * es;
    c.run = [src, dst] {
      if (src.is_cuda()) cuda::copy_d2d(dst.raw_data(), src.raw_data(), src.nbytes());
      else std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
    };
  } else if (op == "copy_permute") {
    // The heads transpose [B, S, H, D] -> [B, H, S, D] at ViT-B/16's shape: a strided copy_.
    const int64_t B = small ? 4 : 64;
    Tensor src = random({B, 197, 12, 64}, dtype, device);
    c.shape = dims({B, 197, 12, 64});
    c.bytes = 2.0 * double(src.numel()) * es;
    c.run = [src] { src.permute({0, 2, 1, 3}).contiguous(); };
  } else if (op == "add") {
    Tensor a = random({rows, cols}, dtype, device), b = random({rows, cols}, dtype, device);
    c.shape = dims({rows, cols});
    c.bytes = 3.0 * n * es;
    c.run = [a, b] { add(a, b); };
  } else if (op == "gelu") {
    Tensor a = random({rows, cols}, dtype, device);
    c.shape = dims({rows, cols});
    c.bytes = 2.0 * n * es;
    c.run = [a] { gelu(a); };
  } else if (op == "softmax") {
    Tensor a = random({rows, cols}, dtype, device);
    c.shape = dims({rows, cols});
    c.bytes = 2.0 * n * es;
    c.run = [a] { softmax(a, -1); };
  } else if (op == "layer_norm") {
    Tensor x = random({rows, cols}, dtype, device), w = random({cols}, dtype, device), b = random({cols}, dtype, device);
    c.shape = dims({rows, cols});
    c.bytes = 2.0 * n * es + 2.0 * double(cols) * es;
    c.run = [x, w, b] { layer_norm(x, w, b, 1e-5); };
  } else if (op == "linear_qkv" || op == "linear_mlp") {
    // y = x W^T + b with W in PyTorch's [out, in] layout: the attention QKV and the MLP up-projection.
    const int64_t m = small ? 1024 : 50432, k = 768, nout = op == "linear_qkv" ? 2304 : 3072;
    Tensor x = random({m, k}, dtype, device), w = random({nout, k}, dtype, device), b = random({nout}, dtype, device);
    c.shape = dims({m, k, nout});
    c.flops = 2.0 * double(m) * double(k) * double(nout);
    c.run = [x, w, b] { linear(x, w, b); };
  } else if (op == "conv2d_stem") {
    // ResNet-50 conv1: 3 -> 64 channels, 7x7, stride 2, padding 3, no bias; 224 -> 112.
    const int64_t batch = small ? 4 : 64;
    Tensor x = random({batch, 3, 224, 224}, dtype, device), w = random({64, 3, 7, 7}, dtype, device);
    c.shape = dims({batch, 3, 224, 224}) + ",k7s2p3";
    c.flops = 2.0 * double(batch) * 64 * 112 * 112 * 3 * 7 * 7;
    c.run = [x, w] { conv2d(x, w, Tensor(), 2, 3); };
  } else if (op == "sdpa") {
    // ViT-B attention at batch 256: two GEMMs of 2*S*S*D each per head (softmax not counted).
    const int64_t batch = small ? 4 : 256, heads = 12, seq = 197, hd = 64;
    Tensor q = random({batch, heads, seq, hd}, dtype, device), k = random({batch, heads, seq, hd}, dtype, device),
           v = random({batch, heads, seq, hd}, dtype, device);
    c.shape = dims({batch, heads, seq, hd});
    c.flops = 4.0 * double(batch) * double(heads) * double(seq) * double(seq) * double(hd);
    c.run = [q, k, v] { scaled_dot_product_attention_unfused(q, k, v); };
  } else {
    for (const auto& [name, factory] : registered()) {
      if (name != op) continue;
      BenchCase r = factory(device, dtype, small);
      r.op = op;
      r.dtype = dtype;
      return r;
    }
    std::string known;
    for (const auto& s : bench_op_names()) known += " " + s;
    fail(cat("iqa-bench: unknown op '", op, "' (known:", known, ")"));
  }
  return c;
}

}  // namespace iqa::bench
