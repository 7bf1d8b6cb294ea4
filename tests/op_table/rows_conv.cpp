// Op-table rows: conv2d, batch_norm2d and the pools in NCHW, and their channels-last twins. The CUDA
// shapes are odd on purpose (batch 3, 5 and 7 channels, 15x13 images); the bench shapes are
// ResNet-50's: the stem conv, layer1's 3x3 conv and the stem's pool at DSMix's batch 110 (--small 4).
#include "tests/op_table/op_table.h"

namespace iqa::op_table {

namespace {

// Running statistics for `channels` on x's device, fresh on every call so training-mode updates do
// not leak between calls: f64 next to f64 data, else f32 (as the model keeps them under autocast).
std::pair<Tensor, Tensor> running_stats(const Tensor& x, int64_t channels) {
  std::vector<double> m, v;
  for (int64_t c = 0; c < channels; ++c) {
    m.push_back(0.1 * double(c % 5) - 0.2);
    v.push_back(0.5 + 0.25 * double(c % 4));
  }
  const DType dt = x.dtype() == DType::F64 ? DType::F64 : DType::F32;
  return {Tensor::from_vector_f64(m, {channels}).to(x.device(), dt),
          Tensor::from_vector_f64(v, {channels}).to(x.device(), dt)};
}

OpCase conv_row(const char* name, int stride, int padding, int dilation, int groups, bool bias, bool nhwc) {
  OpCase c;
  c.name = name;
  const auto conv = nhwc ? &conv2d_nhwc : &conv2d;
  c.fn = [=](const std::vector<Tensor>& in) {
    return conv(in[0], in[1], bias ? in[2] : Tensor(), stride, padding, dilation, groups);
  };
  return c;
}

// layer1's 3x3 conv, 64 -> 64 channels at 56x56; FLOPs 2*B*56*56*64*64*9 forward, 3x that with the
// input and weight gradients.
BenchShape conv3x3_bench(const char* name, bool nhwc, bool backward) {
  BenchShape b;
  b.name = name;
  auto operands = [nhwc](int64_t batch) {
    return Operands{op(nhwc ? Shape{batch, 56, 56, 64} : Shape{batch, 64, 56, 56}), op({64, 64, 3, 3})};
  };
  b.full = operands(110);
  b.small = operands(4);
  b.label = [](const Operands& o) { return dims_with(o, ",k3s1p1"); };
  b.cost = [backward](const Operands& o, DType) {
    const double forward = 2.0 * double(o[0].shape[0]) * 56 * 56 * 64 * 64 * 9;
    return BenchCost{0, backward ? 3.0 * forward : forward};
  };
  b.backward = backward;
  return b;
}

// The stem's 3x3 stride-2 padding-1 pool, 112 -> 56 at 64 channels. Bytes: input read + output
// written (the argmax the engine also writes is not counted; PyTorch's no-grad forward writes none).
BenchShape max_pool_bench(const char* name, bool nhwc) {
  BenchShape b;
  b.name = name;
  b.full = {op(nhwc ? Shape{110, 112, 112, 64} : Shape{110, 64, 112, 112})};
  b.small = {op(nhwc ? Shape{4, 112, 112, 64} : Shape{4, 64, 112, 112})};
  b.label = [](const Operands& o) { return dims_with(o, ",k3s2p1"); };
  b.cost = [](const Operands& o, DType dt) {
    const double batch = double(o[0].shape[0]);
    return BenchCost{(numel_of(o[0].shape) + batch * 56 * 56 * 64) * double(dtype_size(dt))};
  };
  return b;
}

void add_nchw_conv_rows(std::vector<OpCase>& t) {
  OpCase c = conv_row("conv2d s2 p1 g2", 2, 1, 1, 2, true, false);
  c.gradcheck = {{op({2, 4, 5, 6}), op({4, 2, 3, 3}), op({4})}};
  t.push_back(c);
  c = conv_row("conv2d s1 p2 d2", 1, 2, 2, 1, true, false);
  c.gradcheck = {{op({2, 2, 6, 7}), op({3, 2, 2, 3}), op({3})}};
  t.push_back(c);
  c = conv_row("conv2d s2 p1 d2 g2", 2, 1, 2, 2, true, false);
  c.device = {{{op({3, 4, 5, 7}), op({6, 2, 3, 2}), op({6})}}};
  t.push_back(c);
  c = conv_row("conv2d 3x3 p1", 1, 1, 1, 1, false, false);
  c.gradcheck = {{op({1, 3, 5, 4}), op({2, 3, 3, 3})}};
  c.device = {{{op({3, 16, 14, 14}), op({32, 16, 3, 3})}}};
  c.bench = {conv3x3_bench("conv2d_3x3", false, false), conv3x3_bench("conv2d_3x3_fwd_bwd", false, true)};
  t.push_back(c);
  c = conv_row("conv2d patch embed 7x7 s2 p3", 2, 3, 1, 1, true, false);
  c.device = {{{op({2, 3, 29, 31}), op({8, 3, 7, 7}), op({8})}}};
  t.push_back(c);
  // ResNet-50 conv1: 3 -> 64 channels, 7x7, stride 2, padding 3, no bias; 224 -> 112.
  c = conv_row("conv2d stem 7x7 s2 p3", 2, 3, 1, 1, false, false);
  c.gradcheck = {{op({1, 2, 9, 8}), op({2, 2, 7, 7})}};
  BenchShape b;
  b.name = "conv2d_stem";
  b.full = {op({64, 3, 224, 224}), op({64, 3, 7, 7})};
  b.small = {op({4, 3, 224, 224}), op({64, 3, 7, 7})};
  b.label = [](const Operands& o) { return dims_with(o, ",k7s2p3"); };
  b.cost = [](const Operands& o, DType) { return BenchCost{0, 2.0 * double(o[0].shape[0]) * 64 * 112 * 112 * 3 * 7 * 7}; };
  c.bench = {b};
  t.push_back(c);
}

void add_nchw_norm_and_pool_rows(std::vector<OpCase>& t) {
  for (bool training : {true, false}) {
    OpCase c;
    c.name = training ? "batch_norm2d training" : "batch_norm2d eval";
    c.fn = [training](const std::vector<Tensor>& in) {
      auto [rm, rv] = running_stats(in[0], in[0].size(1));
      return batch_norm2d(in[0], in[1], in[2], rm, rv, training, 0.1, 1e-5);
    };
    c.gradcheck = {{op({2, 3, 3, 4}, -2, 2), op({3}, 0.5, 1.5), op({3})}};
    c.device = {{{op({3, 5, 7, 7}), op({5}), op({5})}}};
    t.push_back(c);
  }
  OpCase bare;
  bare.name = "batch_norm2d training, no affine, no running statistics";
  bare.fn = [](const std::vector<Tensor>& in) { return batch_norm2d(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); };
  bare.gradcheck = {{op({2, 3, 3, 4}, -2, 2)}};
  t.push_back(bare);

  struct Pool {
    const char* name;
    OpFn fn;
    bool gradcheck, device;
  };
  const Pool pools[] = {
      {"max_pool2d k3 s2 p1", [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 3, 2, 1); }, true, true},
      {"avg_pool2d k3 s2 p1", [](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 3, 2, 1); }, true, true},
      {"avg_pool2d k2 s2", [](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 2, 2); }, true, true},
      {"adaptive_avg_pool2d 3x4", [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 3, 4); }, true, false},
      {"adaptive_avg_pool2d 5x2", [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 5, 2); }, true, false},
      {"adaptive_avg_pool2d 7x5", [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 7, 5); }, false, true},
      {"adaptive_avg_pool2d 1x1", [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 1, 1); }, false, true},
  };
  for (const Pool& p : pools) {
    OpCase c;
    c.name = p.name;
    c.fn = p.fn;
    if (p.gradcheck) c.gradcheck = {{op({2, 3, 7, 6})}};
    if (p.device) c.device = {{{op({3, 5, 15, 13})}}};
    c.tol = by_dtype(1e-5, 2e-2);
    if (c.name == "max_pool2d k3 s2 p1") c.bench = {max_pool_bench("max_pool", false)};
    t.push_back(c);
  }
}

// Channels-last: f64 gradchecks here; the CUDA comparisons against the CPU, which use the NHWC test's
// own relative-error rule, stay in tests/test_resnet_nhwc.cpp.
void add_nhwc_rows(std::vector<OpCase>& t) {
  OpCase c = conv_row("conv2d_nhwc 3x3 s2 p1 g2", 2, 1, 1, 2, true, true);
  c.gradcheck = {{op({2, 5, 4, 4}), op({6, 2, 3, 3}), op({6})}};
  t.push_back(c);
  c = conv_row("conv2d_nhwc 1x1", 1, 0, 1, 1, false, true);
  c.gradcheck = {{op({2, 3, 5, 4}), op({3, 4, 1, 1})}};
  t.push_back(c);
  c = conv_row("conv2d_nhwc 3x3 p1", 1, 1, 1, 1, false, true);
  c.gradcheck = {{op({1, 5, 4, 3}), op({2, 3, 3, 3})}};
  c.bench = {conv3x3_bench("conv2d_nhwc_3x3", true, false), conv3x3_bench("conv2d_nhwc_3x3_fwd_bwd", true, true)};
  t.push_back(c);
  for (bool training : {true, false}) {
    c = OpCase();
    c.name = training ? "batch_norm2d_nhwc training" : "batch_norm2d_nhwc eval";
    c.fn = [training](const std::vector<Tensor>& in) {
      if (training) return batch_norm2d_nhwc(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1, 1e-5);
      auto [rm, rv] = running_stats(in[0], in[0].size(3));
      return batch_norm2d_nhwc(in[0], in[1], in[2], rm, rv, false, 0.1, 1e-5);
    };
    c.gradcheck = {{op({2, 3, 4, 3}), op({3}, 0.5, 1.5), op({3})}};
    t.push_back(c);
  }
  c = OpCase();
  c.name = "max_pool2d_nhwc k3 s2 p1";
  c.fn = [](const std::vector<Tensor>& in) { return max_pool2d_nhwc(in[0], 3, 2, 1); };
  c.gradcheck = {{op({2, 5, 6, 3})}};
  c.bench = {max_pool_bench("max_pool_nhwc", true)};
  t.push_back(c);
  c = OpCase();
  c.name = "global_avg_pool2d_nhwc";
  c.fn = [](const std::vector<Tensor>& in) { return global_avg_pool2d_nhwc(in[0]); };
  c.gradcheck = {{op({2, 3, 4, 5})}};
  t.push_back(c);
}

}  // namespace

void add_conv_rows(std::vector<OpCase>& t) {
  for (auto add : {add_nchw_conv_rows, add_nchw_norm_and_pool_rows, add_nhwc_rows}) add(t);
}

}  // namespace iqa::op_table
