// Channels-last (NHWC) ops and ResNet: each NHWC op equals its NCHW op on permuted data (forward and
// backward, odd shapes; its f64 gradcheck is an op-table row), and on CUDA matches the CPU op;
// the tiny ResNet gives the same outputs, stage outputs, gradients and running statistics in both
// layouts, and passes the PyTorch parity fixture channels-last.
#include <functional>

#include "models/checkpoint_names.h"
#include "models/resnet.h"
#include "tests/resnet_parity.h"
#include "training/dsmix/qep_loss.h"

using namespace iqa;
using namespace iqa::models;
using namespace iqa::testing;

namespace {

Tensor to_nhwc(const Tensor& t) { return t.permute({0, 2, 3, 1}).contiguous(); }
Tensor to_nchw(const Tensor& t) { return t.permute({0, 3, 1, 2}).contiguous(); }

// A fresh leaf with t's values (own storage) that requires grad.
Tensor leaf(const Tensor& t) {
  Tensor l;
  {
    NoGradGuard ng;
    l = t.detach().clone();
  }
  l.set_requires_grad(true);
  return l;
}

Tensor randn_f(const Shape& s, uint64_t seed, DType dt = DType::F32) {
  manual_seed(seed);
  return Tensor::randn(s, dt);
}

// Back-propagates sum(out * weight) (weight in out's layout).
void backprop(const Tensor& out, const Tensor& weight) { sum(mul(out, weight)).backward(); }

// ------------------------------------------------------------------ NHWC op == NCHW op (CPU)

struct ConvCase {
  int64_t cin, cout;
  int k, stride, padding, dilation, groups;
  bool bias;
};

void conv_matches_nchw(const ConvCase& c, DType dt, double tol) {
  INFO("conv k" << c.k << " s" << c.stride << " p" << c.padding << " d" << c.dilation << " g" << c.groups
                << " bias " << c.bias << " " << dtype_name(dt));
  const Tensor x = randn_f({3, c.cin, 7, 9}, 1, dt), w = randn_f({c.cout, c.cin / c.groups, c.k, c.k}, 2, dt);
  const Tensor b = c.bias ? randn_f({c.cout}, 3, dt) : Tensor();
  Tensor xa = leaf(x), wa = leaf(w), ba = c.bias ? leaf(b) : Tensor();
  Tensor xb = leaf(to_nhwc(x)), wb = leaf(w), bb = c.bias ? leaf(b) : Tensor();
  Tensor ya = conv2d(xa, wa, ba, c.stride, c.padding, c.dilation, c.groups);
  Tensor yb = conv2d_nhwc(xb, wb, bb, c.stride, c.padding, c.dilation, c.groups);
  REQUIRE(yb.shape() == Shape{ya.size(0), ya.size(2), ya.size(3), ya.size(1)});
  require_rel(to_nchw(yb), ya, tol, "output");
  const Tensor g = randn_f(ya.shape(), 4, dt);
  backprop(ya, g);
  backprop(yb, to_nhwc(g));
  require_rel(to_nchw(xb.grad()), xa.grad(), tol, "input gradient");
  require_rel(wb.grad(), wa.grad(), tol, "weight gradient");
  if (c.bias) require_rel(bb.grad(), ba.grad(), tol, "bias gradient");
}

const ConvCase kConvCases[] = {
    {4, 6, 3, 2, 1, 1, 1, false},  // ResNet's strided 3x3
    {4, 6, 3, 1, 1, 1, 1, true},
    {5, 7, 1, 1, 0, 1, 1, false},  // the im2col-free 1x1 path (whole batch as one GEMM)
    {4, 6, 1, 2, 0, 1, 1, false},  // strided 1x1 (downsample)
    {3, 8, 7, 2, 3, 1, 1, false},  // the stem
    {6, 4, 3, 1, 1, 1, 2, true},   // groups
    {4, 4, 1, 1, 0, 1, 2, true},   // grouped 1x1 on the direct path
    {4, 5, 3, 1, 2, 2, 1, false},  // dilation
};

TEST_CASE("conv2d_nhwc equals conv2d on permuted data, forward and backward", "[nhwc]") {
  for (const ConvCase& c : kConvCases) conv_matches_nchw(c, DType::F32, 1e-5);
  for (const ConvCase& c : kConvCases) conv_matches_nchw(c, DType::F64, 1e-12);
}

TEST_CASE("conv2d_nhwc checks its arguments", "[nhwc]") {
  const Tensor x = Tensor::randn({2, 5, 5, 4});
  REQUIRE_THROWS_WITH(conv2d_nhwc(x, Tensor::randn({3, 3, 3, 3}), Tensor()), Catch::Contains("input channels"));
  REQUIRE_THROWS_WITH(conv2d_nhwc(x.reshape({2, 100}), Tensor::randn({3, 4, 1, 1}), Tensor()),
                      Catch::Contains("[N, H, W, C]"));
  REQUIRE_THROWS_WITH(conv2d_nhwc(x, Tensor::randn({3, 4, 7, 7}), Tensor()), Catch::Contains("smaller than"));
}

void batch_norm_matches_nchw(DType dt, double tol) {
  const int64_t C = 5;
  const Tensor x = add(mul(randn_f({3, C, 7, 9}, 11, dt), 2.0), 0.5);
  const Tensor w = randn_f({C}, 12, dt), b = randn_f({C}, 13, dt);
  for (bool training : {true, false}) {
    INFO("training " << training << " " << dtype_name(dt));
    Tensor rma = randn_f({C}, 14, dt), rva = add(Tensor::rand({C}, dt), 0.5);
    Tensor rmb = rma.clone(), rvb = rva.clone();
    Tensor xa = leaf(x), wa = leaf(w), ba = leaf(b);
    Tensor xb = leaf(to_nhwc(x)), wb = leaf(w), bb = leaf(b);
    Tensor ya = batch_norm2d(xa, wa, ba, rma, rva, training, 0.1, 1e-5);
    Tensor yb = batch_norm2d_nhwc(xb, wb, bb, rmb, rvb, training, 0.1, 1e-5);
    require_rel(to_nchw(yb), ya, tol, "output");
    require_rel(rmb, rma, tol, "running_mean");
    require_rel(rvb, rva, tol, "running_var");
    const Tensor g = randn_f(ya.shape(), 15, dt);
    backprop(ya, g);
    backprop(yb, to_nhwc(g));
    require_rel(to_nchw(xb.grad()), xa.grad(), tol, "input gradient");
    require_rel(wb.grad(), wa.grad(), tol, "weight gradient");
    require_rel(bb.grad(), ba.grad(), tol, "bias gradient");
  }
}

TEST_CASE("batch_norm2d_nhwc equals batch_norm2d on permuted data (train and eval)", "[nhwc]") {
  batch_norm_matches_nchw(DType::F32, 1e-5);
  batch_norm_matches_nchw(DType::F64, 1e-12);
  // Without affine parameters or running statistics.
  const Tensor x = randn_f({3, 4, 7, 9}, 16);
  require_rel(to_nchw(batch_norm2d_nhwc(to_nhwc(x), Tensor(), Tensor(), Tensor(), Tensor(), true)),
              batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true), 1e-5, "plain output");
  REQUIRE_THROWS_WITH(batch_norm2d_nhwc(to_nhwc(x), Tensor(), Tensor(), Tensor(), Tensor(), false),
                      Catch::Contains("running_mean"));
}

void max_pool_matches_nchw(const Tensor& x, int kernel, int stride, int padding) {
  INFO("max pool k" << kernel << " s" << stride << " p" << padding);
  Tensor xa = leaf(x), xb = leaf(to_nhwc(x));
  Tensor ya = max_pool2d(xa, kernel, stride, padding), yb = max_pool2d_nhwc(xb, kernel, stride, padding);
  require_rel(to_nchw(yb), ya, 0.0, "output");
  const Tensor g = randn_f(ya.shape(), 21, x.dtype());
  backprop(ya, g);
  backprop(yb, to_nhwc(g));
  require_rel(to_nchw(xb.grad()), xa.grad(), 1e-12, "input gradient");
}

TEST_CASE("max_pool2d_nhwc equals max_pool2d on permuted data, ties included", "[nhwc]") {
  const Tensor x = randn_f({3, 5, 7, 9}, 20);
  max_pool_matches_nchw(x, 3, 2, 1);  // ResNet's stem pool
  max_pool_matches_nchw(x, 2, 2, 0);
  max_pool_matches_nchw(x, 3, 1, 1);
  // Integer-valued data has many ties: both layouts keep the first maximal tap of the window.
  const Tensor ties = sign(randn_f({3, 5, 7, 9}, 22));  // +-1 only
  max_pool_matches_nchw(ties, 3, 2, 1);
  max_pool_matches_nchw(ties, 3, 1, 1);
  REQUIRE_THROWS_WITH(max_pool2d_nhwc(to_nhwc(x), 17, 1, 8), Catch::Contains("exceeds"));
}

TEST_CASE("global_avg_pool2d_nhwc equals mean over H, W", "[nhwc]") {
  const Tensor x = randn_f({3, 6, 7, 9}, 30);
  Tensor xa = leaf(x), xb = leaf(to_nhwc(x));
  Tensor ya = mean(xa, {2, 3}), yb = global_avg_pool2d_nhwc(xb);
  require_rel(yb, ya, 1e-6, "output");
  const Tensor g = randn_f(ya.shape(), 31);
  backprop(ya, g);
  backprop(yb, g);
  require_rel(to_nchw(xb.grad()), xa.grad(), 1e-6, "input gradient");
}

// ------------------------------------------------------------------ ResNet in both layouts

ResNetConfig tiny_config(bool channels_last) {
  ResNetConfig c = ResNetConfig::tiny(10);
  c.channels_last = channels_last;
  return c;
}

// Runs both models on x, back-propagates the same weighted sum of every output and compares
// outputs, parameter gradients and buffers.
void require_same_features(ResNet& nchw, ResNet& nhwc, const Tensor& x, double tol) {
  nchw.zero_grad();
  nhwc.zero_grad();
  ResNetFeatures a = nchw.features(x), b = nhwc.features(x);
  const Tensor* ta[6] = {&a.layer1, &a.layer2, &a.layer3, &a.layer4, &a.pooled, &a.logits};
  const Tensor* tb[6] = {&b.layer1, &b.layer2, &b.layer3, &b.layer4, &b.pooled, &b.logits};
  Tensor la, lb;
  for (int i = 0; i < 6; ++i) {
    INFO("output " << i);
    REQUIRE(tb[i]->shape() == ta[i]->shape());
    require_rel(*tb[i], *ta[i], tol, "feature");
    const Tensor w = randn_f(ta[i]->shape(), 40 + uint64_t(i));
    la = la.defined() ? add(la, sum(mul(*ta[i], w))) : sum(mul(*ta[i], w));
    lb = lb.defined() ? add(lb, sum(mul(*tb[i], w))) : sum(mul(*tb[i], w));
  }
  // The stage outputs are NCHW-shaped views of channels-last storage.
  if (nhwc.config.channels_last) REQUIRE(b.layer3.strides()[1] == 1);
  if (!nchw.is_training()) return;
  la.backward();
  lb.backward();
  auto pb = nhwc.named_parameters();
  size_t i = 0;
  for (auto& [name, p] : nchw.named_parameters()) {
    REQUIRE(pb[i].first == name);
    require_rel(pb[i].second.grad(), p.grad(), tol, "gradient of " + name);
    ++i;
  }
  auto bb = nhwc.named_buffers();
  i = 0;
  for (auto& [name, t] : nchw.named_buffers()) {
    REQUIRE(bb[i].first == name);
    require_rel(bb[i].second, t, tol, "buffer " + name);
    ++i;
  }
}

TEST_CASE("tiny ResNet channels_last equals NCHW: outputs, stage outputs, gradients, buffers", "[nhwc]") {
  manual_seed(3);
  ResNet nchw(tiny_config(false));
  ResNet nhwc(tiny_config(true));
  nhwc.load_state_dict(nchw.state_dict());
  REQUIRE(nhwc.config.str().find("channels_last") != std::string::npos);
  const Tensor x = randn_f({3, 3, 40, 52}, 5);
  require_same_features(nchw, nhwc, x, 1e-5);  // train: batch statistics
  require_same_features(nchw, nhwc, x, 1e-5);  // a second step: num_batches_tracked 2, stats updated twice
  nchw.eval();
  nhwc.eval();
  require_same_features(nchw, nhwc, x, 1e-5);
  // Switching the layout of a built model gives the same numbers as well.
  nhwc.set_channels_last(false);
  REQUIRE_FALSE(nhwc.config.channels_last);
  require_same_features(nchw, nhwc, x, 1e-6);
}

TEST_CASE("distillation loss is the same with a channels-last student or teacher", "[nhwc]") {
  manual_seed(6);
  ResNet student(tiny_config(false)), teacher(tiny_config(false)), student_cl(tiny_config(true));
  student_cl.load_state_dict(student.state_dict());
  teacher.eval();
  const Tensor x = randn_f({3, 3, 40, 52}, 7);
  const ResNetFeatures t = teacher.features(x);
  training::KdTerms a, b;
  Tensor la = training::distillation_loss(student.features(x), t, 1.0, 0.5, &a);
  Tensor lb = training::distillation_loss(student_cl.features(x), t, 1.0, 0.5, &b);
  REQUIRE(a.mae.item() > 0);
  REQUIRE(b.mae.item() == Approx(a.mae.item()).epsilon(1e-5));
  REQUIRE(b.cosd.item() == Approx(a.cosd.item()).epsilon(1e-5));
  la.backward();
  lb.backward();
  require_rel(student_cl.layer2->named_parameters()[0].second.grad(), student.layer2->named_parameters()[0].second.grad(),
              1e-5, "a layer2 weight gradient");
}

TEST_CASE("channels-last ResNet matches the torchvision parity fixture (CPU f32 and f64)", "[nhwc][models]") {
  SECTION("f32") { resnet_parity_case(ParityOptions{}, true); }
  SECTION("f64") {
    ParityOptions o;
    o.dtype = DType::F64;
    o.output_tol = o.grad_tol = 1e-5;
    resnet_parity_case(o, true);
  }
}

// ------------------------------------------------------------------ CUDA against the CPU

// f on CPU f32 inputs (rounded through `dt` where `narrow[i]`) and on CUDA copies in `dt` (f32 where
// not narrow); compares the output and every input's gradient in the max-norm relative error.
void cuda_matches_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                      const std::vector<bool>& narrow, DType dt, double tol) {
  INFO("dtype " << dtype_name(dt));
  std::vector<Tensor> cpu, gpu;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const DType t = narrow[i] ? dt : DType::F32;
    cpu.push_back(leaf(inputs[i].to(t).to(DType::F32)));
    gpu.push_back(leaf(inputs[i].to(cuda_device(0), t)));
  }
  Tensor yc = f(cpu), yg = f(gpu);
  require_rel(yg.to(kCPU, DType::F32), yc, tol, "output");
  const Tensor g = randn_f(yc.shape(), 50);
  backprop(yc, g);
  backprop(yg.to(DType::F32), g.to(cuda_device(0)));
  for (size_t i = 0; i < inputs.size(); ++i) {
    INFO("input " << i);
    require_rel(gpu[i].grad().to(kCPU, DType::F32), cpu[i].grad(), tol, "gradient");
  }
}

TEST_CASE("CUDA NHWC ops match the CPU ops", "[nhwc][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  for (DType dt : {DType::F32, DType::BF16}) {
    const double tol = dt == DType::F32 ? 1e-4 : 2e-2;
    for (const ConvCase& c : kConvCases) {
      INFO("conv k" << c.k << " s" << c.stride << " g" << c.groups);
      std::vector<Tensor> in = {randn_f({3, 7, 9, c.cin}, 60), randn_f({c.cout, c.cin / c.groups, c.k, c.k}, 61)};
      if (c.bias) in.push_back(randn_f({c.cout}, 62));
      cuda_matches_cpu([&](const std::vector<Tensor>& t) {
        return conv2d_nhwc(t[0], t[1], c.bias ? t[2] : Tensor(), c.stride, c.padding, c.dilation, c.groups);
      }, in, {true, true, true}, dt, tol);
    }
    for (bool training : {true, false}) {
      INFO("batch norm, training " << training);
      // f32 parameters and running statistics with narrow activations, as the model runs them.
      Tensor rm_c = randn_f({13}, 63), rv_c = add(Tensor::rand({13}), 0.5);
      Tensor rm_g = rm_c.to(cuda_device(0)), rv_g = rv_c.to(cuda_device(0));
      cuda_matches_cpu([&](const std::vector<Tensor>& t) {
        const bool gpu = t[0].is_cuda();
        return batch_norm2d_nhwc(t[0], t[1], t[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, training, 0.1, 1e-5);
      }, {add(mul(randn_f({3, 7, 9, 13}, 64), 3.0), 1.0), randn_f({13}, 65), randn_f({13}, 66)},
         {true, false, false}, dt, tol);
      require_rel(rm_g.cpu(), rm_c, 1e-4, "running_mean");
      require_rel(rv_g.cpu(), rv_c, 1e-4, "running_var");
    }
    // A large row count exercises several row chunks of the NHWC reductions.
    cuda_matches_cpu([](const std::vector<Tensor>& t) {
      return batch_norm2d_nhwc(t[0], t[1], t[2], Tensor(), Tensor(), true, 0.1, 1e-5);
    }, {randn_f({5, 49, 61, 37}, 67), randn_f({37}, 68), randn_f({37}, 69)}, {true, false, false}, dt, tol);
    cuda_matches_cpu([](const std::vector<Tensor>& t) { return max_pool2d_nhwc(t[0], 3, 2, 1); },
                     {randn_f({3, 7, 9, 37}, 70)}, {true}, dt, tol);
    cuda_matches_cpu([](const std::vector<Tensor>& t) { return global_avg_pool2d_nhwc(t[0]); },
                     {randn_f({3, 7, 9, 70}, 71)}, {true}, dt, tol);
  }
}

TEST_CASE("channels-last ResNet on CUDA matches the CPU and the parity fixture", "[nhwc][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  SECTION("f32, against the NCHW CPU model") {
    manual_seed(3);
    ResNet cpu_model(tiny_config(false));
    ResNet gpu_model(tiny_config(true));
    gpu_model.load_state_dict(cpu_model.state_dict());
    gpu_model.to(cuda_device(0));
    const Tensor x = randn_f({3, 3, 40, 52}, 5);
    ResNetFeatures a = cpu_model.features(x), b = gpu_model.features(x.to(cuda_device(0)));
    require_rel(b.layer2.cpu(), a.layer2, 1e-4, "layer2");
    require_rel(b.logits.cpu(), a.logits, 1e-4, "logits");
    sum(a.logits).backward();
    sum(b.logits).backward();
    auto pg = gpu_model.named_parameters();
    size_t i = 0;
    for (auto& [name, p] : cpu_model.named_parameters())
      require_rel(pg[i++].second.grad().cpu(), p.grad(), 1e-4, "gradient of " + name);
  }
  SECTION("bf16 autocast, parity fixture") {
    ParityOptions o;
    o.device = cuda_device(0);
    o.autocast = DType::BF16;
    o.output_tol = o.grad_tol = 2e-2;
    resnet_parity_case(o, true);
  }
}

}  // namespace
