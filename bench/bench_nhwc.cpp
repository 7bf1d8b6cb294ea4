// ResNet-50's hottest convolution, batch norm and pool at DSMix's batch 110 (--small: 4), in both
// layouts side by side, so a channels-last kernel is always timed next to its NCHW twin and next to
// PyTorch with memory_format=torch.channels_last (bench/torch_peer_nhwc.py: same names, shapes, counts).
//
//   conv2d_3x3 / conv2d_nhwc_3x3          layer1's 3x3 conv: 64 -> 64 channels at 56x56, stride 1,
//                                         padding 1, no bias; forward. FLOPs 2*B*56*56*64*64*9.
//   conv2d_3x3_fwd_bwd / conv2d_nhwc_3x3_fwd_bwd
//                                         the same forward plus the input and weight gradients (each
//                                         as many FLOPs as the forward): 3x the forward's FLOPs.
//   batch_norm / batch_norm_nhwc          train mode at [B, 256, 56, 56] (layer1's widest BN), forward
//                                         and backward with affine parameters and running statistics.
//                                         Bytes: the 8 activation-sized passes of the kernels'
//                                         contract (statistics read x; apply reads x, writes y; the
//                                         backward reduce reads dy, x; the input gradient reads dy, x,
//                                         writes dx); the per-channel vectors are not counted.
//   max_pool / max_pool_nhwc              the stem's 3x3 stride-2 padding-1 pool, 112 -> 56 at 64
//                                         channels, forward. Bytes: input read + output written (the
//                                         argmax the engine also writes, i64 NCHW / u8 NHWC, is not
//                                         counted; PyTorch's no-grad forward writes none).
//
// The convolutions and pools take their op, shapes and counts from the op table; the batch norms are
// written here (f32 parameters next to bf16 activations on CUDA, which the table's one-dtype operands
// do not express). The *_fwd_bwd and batch-norm cases run the public ops under autograd (iqa-bench itself runs under
// NoGradGuard), like a training step: the NHWC conv's KRSC filter copy and the backward closures are
// part of the time. The gradients are dropped after each call so nothing accumulates. On CUDA the
// batch norm's parameters and running statistics are f32 (bf16 activations, as under autocast).
#include <string>

#include "bench/bench_ops.h"
#include "engine/autograd.h"
#include "engine/ops.h"

namespace iqa::bench {

namespace {

std::string dims4(int64_t a, int64_t b, int64_t c, int64_t d) {
  return std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(c) + "x" + std::to_string(d);
}

int64_t batch_of(bool small) { return small ? 4 : 110; }

Tensor leaf(const Shape& shape, DType dtype, Device device) {
  Tensor t = Tensor::randn(shape, dtype, device);
  t.set_requires_grad(true);
  return t;
}

// Train-mode batch norm at layer1's widest activation, forward + backward.
BenchCase batch_norm_case(bool nhwc, Device device, DType dtype, bool small) {
  const int64_t B = batch_of(small), C = 256, H = 56;
  const Shape x_shape = nhwc ? Shape{B, H, H, C} : Shape{B, C, H, H};
  const DType param_dtype = device.is_cpu() ? dtype : DType::F32;
  Tensor x = leaf(x_shape, dtype, device), gy = Tensor::randn(x_shape, dtype, device);
  Tensor w = leaf({C}, param_dtype, device), b = leaf({C}, param_dtype, device);
  Tensor running_mean = Tensor::zeros({C}, param_dtype, device), running_var = Tensor::ones({C}, param_dtype, device);
  const auto bn = nhwc ? &batch_norm2d_nhwc : &batch_norm2d;
  BenchCase c;
  c.shape = nhwc ? dims4(B, H, H, C) : dims4(B, C, H, H);
  c.bytes = 8.0 * double(x.nbytes());
  c.run = [=]() mutable {
    EnableGradGuard grad;
    bn(x, w, b, running_mean, running_var, true, 0.1, 1e-5).backward(gy);
    x.zero_grad();
    w.zero_grad();
    b.zero_grad();
  };
  return c;
}

// The convolutions and pools are op-table rows (tests/op_table/rows_conv.cpp); registered here so
// the two layouts stay side by side in the listing.
const BenchRegistrar reg_conv("conv2d_3x3", op_table_bench("conv2d_3x3"));
const BenchRegistrar reg_conv_nhwc("conv2d_nhwc_3x3", op_table_bench("conv2d_nhwc_3x3"));
const BenchRegistrar reg_conv_bwd("conv2d_3x3_fwd_bwd", op_table_bench("conv2d_3x3_fwd_bwd"));
const BenchRegistrar reg_conv_nhwc_bwd("conv2d_nhwc_3x3_fwd_bwd", op_table_bench("conv2d_nhwc_3x3_fwd_bwd"));
const BenchRegistrar reg_bn("batch_norm", [](Device d, DType t, bool s) { return batch_norm_case(false, d, t, s); });
const BenchRegistrar reg_bn_nhwc("batch_norm_nhwc", [](Device d, DType t, bool s) {
  return batch_norm_case(true, d, t, s);
});
const BenchRegistrar reg_pool("max_pool", op_table_bench("max_pool"));
const BenchRegistrar reg_pool_nhwc("max_pool_nhwc", op_table_bench("max_pool_nhwc"));

}  // namespace

}  // namespace iqa::bench
