// The fused ViT-step ops: linear_quick_gelu, add_layer_norm and the fused soft-target cross-entropy.
// CPU forwards against f64 loops written here, f64 finite-difference gradient checks, equality with the
// unfused compositions they replace, and CUDA against the CPU at odd shapes (197 tokens, 3 x 49).
#include <cmath>

#include "engine/cuda_runtime.h"
#include "kernels/layer_norm.h"
#include "models/clip_vit.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

Tensor randf(const Shape& s, uint64_t seed, DType dt = DType::F32, double lo = -2, double hi = 2) {
  return rand_f64(s, lo, hi, seed).detach().to(dt);
}

// max |a - b| <= frac * max |b|: for GEMM-sized sums whose small elements carry absolute, not relative,
// rounding error.
void require_close_scaled(const Tensor& a, const Tensor& b, double frac, const char* what) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> av = a.to_vector_f64(), bv = b.to_vector_f64();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    worst = std::max(worst, std::abs(av[i] - bv[i]));
    scale = std::max(scale, std::abs(bv[i]));
  }
  INFO(what << ": max |diff| " << worst << ", max |expected| " << scale);
  REQUIRE(worst <= frac * scale);
}

void require_equal(const Tensor& a, const Tensor& b, const char* what) {
  INFO(what);
  REQUIRE(a.to_vector_f64() == b.to_vector_f64());
}

double quick_gelu_ref(double v) { return v / (1.0 + std::exp(-1.702 * v)); }

Tensor soft_targets(int64_t n, int64_t c, uint64_t seed, DType dt = DType::F32) {
  NoGradGuard ng;
  return softmax(randf({n, c}, seed, DType::F64, -3, 3), 1).to(dt);
}

}  // namespace

// ---------------------------------------------------------------- linear_quick_gelu
TEST_CASE("linear_quick_gelu forward matches an f64 loop and the unfused ops", "[ops][vit_fused]") {
  const int64_t in = 37, out = 53;
  Tensor x = randf({3, 49, in}, 1), w = randf({out, in}, 2, DType::F32, -0.5, 0.5), b = randf({out}, 3);
  Tensor y = linear_quick_gelu(x, w, b);
  REQUIRE(y.shape() == Shape{3, 49, out});
  std::vector<double> xv = x.to_vector_f64(), wv = w.to_vector_f64(), bv = b.to_vector_f64(), ref;
  for (int64_t r = 0; r < 3 * 49; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double pre = bv[size_t(o)];
      for (int64_t k = 0; k < in; ++k) pre += xv[size_t(r * in + k)] * wv[size_t(o * in + k)];
      ref.push_back(quick_gelu_ref(pre));
    }
  require_close(y.to_vector_f64(), ref, 1e-5, 1e-5, "forward");
  require_equal(y, quick_gelu(linear(x, w, b)), "same bits as quick_gelu(linear)");
  require_equal(linear_quick_gelu(x, w, Tensor()), quick_gelu(linear(x, w, Tensor())), "no bias");
  REQUIRE_THROWS_AS(linear_quick_gelu(x, randf({out, in + 1}, 4), b), Error);
}

TEST_CASE("linear_quick_gelu gradients (f64 finite differences, and the unfused backward)", "[ops][vit_fused]") {
  gradcheck([](const std::vector<Tensor>& in) { return linear_quick_gelu(in[0], in[1], in[2]); },
            {rand_f64({2, 3, 5}, -2, 2, 11), rand_f64({4, 5}, -1, 1, 12), rand_f64({4}, -1, 1, 13)});
  gradcheck([](const std::vector<Tensor>& in) { return linear_quick_gelu(in[0], in[1], Tensor()); },
            {rand_f64({7, 3}, -2, 2, 14), rand_f64({6, 3}, -1, 1, 15)});
  // f32: the same gradients as linear + quick_gelu (up to the order of the bias-gradient sum).
  Tensor x = randf({49, 37}, 16), w = randf({29, 37}, 17, DType::F32, -0.5, 0.5), b = randf({29}, 18);
  Tensor up = randf({49, 29}, 19);
  auto grads = [&](bool fused) {
    Tensor xd = x.detach().set_requires_grad(true), wd = w.detach().set_requires_grad(true),
           bd = b.detach().set_requires_grad(true);
    Tensor y = fused ? linear_quick_gelu(xd, wd, bd) : quick_gelu(linear(xd, wd, bd));
    sum(mul(y, up)).backward();
    return std::vector<Tensor>{xd.grad(), wd.grad(), bd.grad()};
  };
  auto f = grads(true), u = grads(false);
  for (int i = 0; i < 3; ++i) require_close(f[size_t(i)], u[size_t(i)], 1e-5, 1e-5, "vs unfused");
}

TEST_CASE("CUDA linear_quick_gelu matches the CPU", "[ops][vit_fused][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  struct Case { Shape x; int64_t out; DType dt; };
  // 768 -> 3072 is ViT-B's c_fc at 197 tokens (vectorised backward); 37 -> 53 the scalar path.
  std::vector<Case> cases = {{{197, 768}, 3072, DType::BF16}, {{197, 768}, 3072, DType::F32},
                             {{3, 49, 37}, 53, DType::F32}, {{3, 49, 37}, 53, DType::F16}};
  for (const Case& c : cases) {
    INFO("x " << shape_str(c.x) << " out " << c.out << " dtype " << dtype_name(c.dt));
    const int64_t in = c.x.back();
    Shape ys = c.x;
    ys.back() = c.out;
    Tensor x = randf(c.x, 21, c.dt).to(DType::F32), w = randf({c.out, in}, 22, c.dt, -0.1, 0.1).to(DType::F32);
    Tensor b = randf({c.out}, 23, c.dt).to(DType::F32), up = randf(ys, 24, c.dt).to(DType::F32);
    auto run = [&](Device dev, DType dt) {
      Tensor xd = x.to(dev, dt).detach().set_requires_grad(true), wd = w.to(dev, dt).detach().set_requires_grad(true),
             bd = b.to(dev, dt).detach().set_requires_grad(true);
      Tensor y = linear_quick_gelu(xd, wd, bd);
      sum(mul(y, up.to(dev, dt))).backward();
      return std::vector<Tensor>{y.detach().to(kCPU, DType::F32), xd.grad().to(kCPU, DType::F32),
                                 wd.grad().to(kCPU, DType::F32), bd.grad().to(kCPU, DType::F32)};
    };
    auto cpu = run(kCPU, DType::F32), gpu = run(cuda_device(), c.dt);
    const double frac = c.dt == DType::F32 ? 1e-5 : 2e-2;
    require_close_scaled(gpu[0], cpu[0], frac, "forward");
    require_close_scaled(gpu[1], cpu[1], frac, "dx");
    require_close_scaled(gpu[2], cpu[2], frac, "dweight");
    require_close_scaled(gpu[3], cpu[3], frac, "dbias");
    // The fused forward keeps the unfused numbers on the GPU too.
    Tensor xg = x.to(cuda_device(), c.dt), wg = w.to(cuda_device(), c.dt), bg = b.to(cuda_device(), c.dt);
    require_equal(linear_quick_gelu(xg, wg, bg).to(kCPU, DType::F32), quick_gelu(linear(xg, wg, bg)).to(kCPU, DType::F32),
                  "CUDA fused == unfused");
  }
}

// ---------------------------------------------------------------- add_layer_norm
TEST_CASE("add_layer_norm forward matches an f64 loop and add + layer_norm", "[ops][vit_fused]") {
  const int64_t C = 37;
  Tensor x = randf({3, 49, C}, 31), r = randf({3, 49, C}, 32), w = randf({C}, 33), b = randf({C}, 34);
  AddLayerNormResult res = add_layer_norm(x, r, w, b, 1e-5);
  std::vector<double> xv = x.to_vector_f64(), rv = r.to_vector_f64(), wv = w.to_vector_f64(), bv = b.to_vector_f64();
  std::vector<double> sum_ref(xv.size()), out_ref(xv.size());
  for (int64_t row = 0; row < 3 * 49; ++row) {
    double mu = 0, var = 0;
    for (int64_t j = 0; j < C; ++j) {
      size_t i = size_t(row * C + j);
      sum_ref[i] = double(float(xv[i]) + float(rv[i]));  // the sum is stored in f32
      mu += sum_ref[i];
    }
    mu /= double(C);
    for (int64_t j = 0; j < C; ++j) var += (sum_ref[size_t(row * C + j)] - mu) * (sum_ref[size_t(row * C + j)] - mu);
    var /= double(C);
    for (int64_t j = 0; j < C; ++j) {
      size_t i = size_t(row * C + j);
      out_ref[i] = (sum_ref[i] - mu) / std::sqrt(var + 1e-5) * wv[size_t(j)] + bv[size_t(j)];
    }
  }
  require_close(res.sum.to_vector_f64(), sum_ref, 0, 1e-12, "sum");
  require_close(res.out.to_vector_f64(), out_ref, 1e-5, 1e-5, "out");
  Tensor h = add(x, r);
  require_equal(res.sum, h, "sum == add");
  require_equal(res.out, layer_norm(h, w, b, 1e-5), "out == layer_norm(add)");
  REQUIRE_THROWS_AS(add_layer_norm(x, randf({3, 49, C + 1}, 35), w, b), Error);
  REQUIRE_THROWS_AS(add_layer_norm(x, r.to(DType::F64), w, b), Error);
}

TEST_CASE("add_layer_norm gradients (f64 finite differences, both outputs)", "[ops][vit_fused]") {
  // out and sum both feed the result, as in a transformer block (sum is the next residual).
  gradcheck(
      [](const std::vector<Tensor>& in) {
        AddLayerNormResult r = add_layer_norm(in[0], in[1], in[2], in[3]);
        return add(r.out, mul(r.sum, 0.7));
      },
      {rand_f64({2, 3, 6}, -2, 2, 41), rand_f64({2, 3, 6}, -2, 2, 42), rand_f64({6}, -1, 1, 43),
       rand_f64({6}, -1, 1, 44)});
  gradcheck([](const std::vector<Tensor>& in) { return add_layer_norm(in[0], in[1], Tensor(), Tensor(), 1e-3).out; },
            {rand_f64({4, 5}, -2, 2, 45), rand_f64({4, 5}, -2, 2, 46)});
}

TEST_CASE("add_layer_norm kernel backward adds grad_sum in the same pass (CPU)", "[ops][vit_fused]") {
  const int64_t rows = 49, C = 37;
  Tensor x = randf({rows, C}, 51, DType::F64), r = randf({rows, C}, 52, DType::F64);
  Tensor w = randf({C}, 53, DType::F64), b = randf({C}, 54, DType::F64);
  Tensor gy = randf({rows, C}, 55, DType::F64), gs = randf({rows, C}, 56, DType::F64);
  // Reference: autograd through the unfused ops.
  Tensor xd = x.detach().set_requires_grad(true), wd = w.detach().set_requires_grad(true),
         bd = b.detach().set_requires_grad(true);
  Tensor h = add(xd, r);
  add(sum(mul(layer_norm(h, wd, bd), gy)), sum(mul(h, gs))).backward();
  // The kernels directly.
  Tensor s = Tensor::empty({rows, C}, DType::F64), y = Tensor::empty({rows, C}, DType::F64);
  Tensor mean = Tensor::empty({rows}, DType::F64), rstd = Tensor::empty({rows}, DType::F64);
  kernels::cpu::add_layer_norm_forward(DType::F64, x.raw_data(), r.raw_data(), w.raw_data(), b.raw_data(), s.raw_data(),
                                       y.raw_data(), mean.raw_data(), rstd.raw_data(), rows, C, 1e-5);
  Tensor dx = Tensor::empty({rows, C}, DType::F64), dw = Tensor::empty({C}, DType::F64), db = Tensor::empty({C}, DType::F64);
  kernels::cpu::add_layer_norm_backward(DType::F64, s.raw_data(), w.raw_data(), mean.raw_data(), rstd.raw_data(),
                                        gy.raw_data(), gs.raw_data(), dx.raw_data(), dw.raw_data(), db.raw_data(), rows, C);
  require_close(dx, xd.grad(), 1e-10, 1e-10, "dx");
  require_close(dw, wd.grad(), 1e-10, 1e-10, "dweight");
  require_close(db, bd.grad(), 1e-10, 1e-10, "dbias");
}

TEST_CASE("CUDA add_layer_norm matches the CPU and the unfused CUDA ops", "[ops][vit_fused][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  struct Case { Shape shape; DType dt; };
  // 768 bf16: vectorised warp path; 37: scalar warp path; 1500 and 4099: the block path.
  std::vector<Case> cases = {{{197, 768}, DType::BF16}, {{197, 768}, DType::F32}, {{3, 49, 37}, DType::F32},
                             {{3, 49, 100}, DType::F16}, {{3, 5, 1500}, DType::F32}, {{2, 3, 4099}, DType::BF16}};
  for (const Case& c : cases) {
    INFO("shape " << shape_str(c.shape) << " dtype " << dtype_name(c.dt));
    const int64_t C = c.shape.back(), rows = shape_numel(c.shape) / C;
    Tensor x = randf(c.shape, 61, c.dt).to(DType::F32), r = randf(c.shape, 62, c.dt).to(DType::F32);
    Tensor w = randf({C}, 63, c.dt).to(DType::F32), b = randf({C}, 64, c.dt).to(DType::F32);
    Tensor up_out = randf(c.shape, 65, c.dt).to(DType::F32), up_sum = randf(c.shape, 66, c.dt).to(DType::F32);
    auto run = [&](Device dev, DType dt) {
      Tensor xd = x.to(dev, dt).detach().set_requires_grad(true), rd = r.to(dev, dt).detach().set_requires_grad(true);
      Tensor wd = w.to(dev, dt).detach().set_requires_grad(true), bd = b.to(dev, dt).detach().set_requires_grad(true);
      AddLayerNormResult res = add_layer_norm(xd, rd, wd, bd);
      add(sum(mul(res.out, up_out.to(dev, dt))), sum(mul(res.sum, up_sum.to(dev, dt)))).backward();
      std::vector<Tensor> out{res.sum, res.out, xd.grad(), rd.grad(), wd.grad(), bd.grad()};
      for (auto& t : out) t = t.detach().to(kCPU, DType::F32);
      return out;
    };
    auto cpu = run(kCPU, DType::F32), gpu = run(cuda_device(), c.dt);
    const double tol = c.dt == DType::F32 ? 1e-4 : 3e-2, sum_tol = c.dt == DType::F32 ? 1e-4 : 5e-2;
    const char* names[] = {"sum", "out", "dx", "dresidual", "dweight", "dbias"};
    for (size_t i = 0; i < 4; ++i) require_close(gpu[i], cpu[i], tol, tol, names[i]);
    for (size_t i = 4; i < 6; ++i) require_close(gpu[i], cpu[i], sum_tol, sum_tol, names[i]);
    // Same bits as add + layer_norm on the GPU (the sum is rounded before it is normalised).
    Device dev = cuda_device();
    Tensor xg = x.to(dev, c.dt), rg = r.to(dev, c.dt), wg = w.to(dev, c.dt), bg = b.to(dev, c.dt);
    AddLayerNormResult fused = add_layer_norm(xg, rg, wg, bg);
    Tensor h = add(xg, rg);
    require_equal(fused.sum.to(kCPU, DType::F32), h.to(kCPU, DType::F32), "CUDA sum == add");
    require_equal(fused.out.to(kCPU, DType::F32), layer_norm(h, wg, bg).to(kCPU, DType::F32), "CUDA out == unfused");
    // The kernel's grad_sum operand against the CPU kernel (f32 data; the CUDA kernels exist only in
    // CUDA builds).
#ifdef IQA_WITH_CUDA
    if (c.dt == DType::F32) {
      Tensor gy = randf(c.shape, 67), gs = randf(c.shape, 68);
      Tensor mean = Tensor::empty({rows}, DType::F32, dev), rstd = Tensor::empty({rows}, DType::F32, dev);
      Tensor s = Tensor::empty(c.shape, DType::F32, dev), y = Tensor::empty(c.shape, DType::F32, dev);
      Tensor xf = x.to(dev), rf = r.to(dev), wf = w.to(dev), gyd = gy.to(dev), gsd = gs.to(dev);
      kernels::cuda::add_layer_norm_forward(DType::F32, xf.raw_data(), rf.raw_data(), wf.raw_data(), nullptr,
                                            s.raw_data(), y.raw_data(), mean.data<float>(), rstd.data<float>(), rows, C,
                                            1e-5, cuda::current_stream());
      Tensor dx = Tensor::empty(c.shape, DType::F32, dev), dw = Tensor::empty({C}, DType::F32, dev);
      Tensor ws = Tensor::empty({kernels::cuda::layer_norm_backward_workspace_floats(rows, C)}, DType::F32, dev);
      kernels::cuda::add_layer_norm_backward(DType::F32, s.raw_data(), wf.raw_data(), mean.data<float>(),
                                             rstd.data<float>(), gyd.raw_data(), gsd.raw_data(), dx.raw_data(),
                                             dw.raw_data(), nullptr, rows, C, ws.data<float>(), cuda::current_stream());
      Tensor sc = Tensor::empty(c.shape), yc = Tensor::empty(c.shape), mc = Tensor::empty({rows}), rc = Tensor::empty({rows});
      kernels::cpu::add_layer_norm_forward(DType::F32, x.raw_data(), r.raw_data(), w.raw_data(), nullptr, sc.raw_data(),
                                           yc.raw_data(), mc.raw_data(), rc.raw_data(), rows, C, 1e-5);
      Tensor dxc = Tensor::empty(c.shape), dwc = Tensor::empty({C});
      kernels::cpu::add_layer_norm_backward(DType::F32, sc.raw_data(), w.raw_data(), mc.raw_data(), rc.raw_data(),
                                            gy.raw_data(), gs.raw_data(), dxc.raw_data(), dwc.raw_data(), nullptr, rows, C);
      require_close(dx.to(kCPU), dxc, 1e-4, 1e-4, "kernel dx with grad_sum");
      require_close(dw.to(kCPU), dwc, 1e-4, 1e-4, "kernel dweight");
    }
#endif
  }
}

// ---------------------------------------------------------------- cross_entropy_soft
TEST_CASE("cross_entropy_soft (fused) forward matches an f64 loop", "[ops][vit_fused]") {
  for (bool normalised : {true, false}) {
    INFO("targets sum to 1: " << normalised);
    const int64_t N = 49, C = 37;
    Tensor x = randf({N, C}, 71, DType::F32, -6, 6);
    Tensor t = normalised ? soft_targets(N, C, 72) : randf({N, C}, 73, DType::F32, 0, 0.2);
    std::vector<double> xv = x.to_vector_f64(), tv = t.to_vector_f64();
    double total = 0;
    for (int64_t n = 0; n < N; ++n) {
      double mx = -1e300, se = 0;
      for (int64_t c = 0; c < C; ++c) mx = std::max(mx, xv[size_t(n * C + c)]);
      for (int64_t c = 0; c < C; ++c) se += std::exp(xv[size_t(n * C + c)] - mx);
      for (int64_t c = 0; c < C; ++c) total -= tv[size_t(n * C + c)] * (xv[size_t(n * C + c)] - mx - std::log(se));
    }
    Tensor loss = cross_entropy_soft(x, t);
    REQUIRE(loss.dim() == 0);
    REQUIRE(loss.dtype() == DType::F32);
    require_close({loss.item()}, {total / double(N)}, 1e-6, 1e-6, "loss");
  }
  REQUIRE_THROWS_AS(cross_entropy_soft(randf({3, 4}, 74), randf({3, 5}, 75)), Error);
}

TEST_CASE("cross_entropy_soft gradients (f64 finite differences, and the composite)", "[ops][vit_fused]") {
  gradcheck([](const std::vector<Tensor>& in) { return cross_entropy_soft(in[0], in[1]); },
            {rand_f64({3, 7}, -3, 3, 81), rand_f64({3, 7}, 0, 0.5, 82)});
  // Against log_softmax composed by hand, f64, for targets that do not sum to one.
  Tensor x = rand_f64({5, 11}, -4, 4, 83), t = rand_f64({5, 11}, 0, 0.3, 84);
  Tensor x2 = x.detach().set_requires_grad(true), t2 = t.detach().set_requires_grad(true);
  Tensor fused = cross_entropy_soft(x, t);
  mul(fused, 1.7).backward();
  Tensor composite = neg(mean(sum(mul(t2, log_softmax(x2, 1)), {1})));
  mul(composite, 1.7).backward();
  require_close({fused.item()}, {composite.item()}, 1e-12, 1e-12, "loss");
  require_close(x.grad(), x2.grad(), 1e-10, 1e-12, "dlogits");
  require_close(t.grad(), t2.grad(), 1e-10, 1e-12, "dtarget");
}

TEST_CASE("CUDA cross_entropy_soft matches the CPU", "[ops][vit_fused][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  struct Case { int64_t n, c; DType dt; };
  std::vector<Case> cases = {{3, 49, DType::F32}, {64, 1000, DType::F32}, {197, 1000, DType::BF16},
                             {5, 7, DType::F16}, {197, 768, DType::F32}};
  for (const Case& c : cases) {
    INFO("logits " << c.n << "x" << c.c << " dtype " << dtype_name(c.dt));
    Tensor x = randf({c.n, c.c}, 91, c.dt, -5, 5).to(DType::F32), t = soft_targets(c.n, c.c, 92, c.dt).to(DType::F32);
    auto run = [&](Device dev, DType dt) {
      Tensor xd = x.to(dev, dt).detach().set_requires_grad(true), td = t.to(dev, dt).detach().set_requires_grad(true);
      Tensor loss = cross_entropy_soft(xd, td);
      mul(loss, 3.0).backward();
      return std::vector<Tensor>{loss.detach().to(kCPU, DType::F32), xd.grad().to(kCPU, DType::F32),
                                 td.grad().to(kCPU, DType::F32)};
    };
    auto cpu = run(kCPU, DType::F32), gpu = run(cuda_device(), c.dt);
    const double tol = c.dt == DType::F32 ? 1e-5 : 2e-2;
    require_close(gpu[0], cpu[0], tol, tol, "loss");
    require_close_scaled(gpu[1], cpu[1], tol, "dlogits");
    require_close_scaled(gpu[2], cpu[2], tol, "dtarget");
  }
}

// The tower fuses every residual add with the LayerNorm after it, across block boundaries and into
// ln_post. Same numbers (f64) as running each block whole and then ln_post, gradients included.
TEST_CASE("CLIP tower: residual adds fused across blocks and into ln_post give the unfused numbers",
          "[models][vit_fused]") {
  models::VisionTransformerConfig cfg = models::VisionTransformerConfig::tiny();
  cfg.layers = 3;
  models::VisionTransformer vit(cfg);
  vit.to(DType::F64);
  const Tensor h = rand_f64({2, 5, cfg.width}, -1, 1, 41).detach().set_requires_grad(true);
  const Tensor up_out = rand_f64({2, 5, cfg.width}, -1, 1, 42).detach();
  const Tensor up_sum = rand_f64({2, 5, cfg.width}, -1, 1, 43).detach();

  auto run = [&](bool fused) {
    vit.zero_grad();
    Tensor x = h.detach().set_requires_grad(true);
    AddLayerNormResult r;
    if (fused) {
      r = vit.transformer->forward_then_norm(x, *vit.ln_post);
    } else {
      r.sum = vit.transformer->forward(x);
      r.out = vit.ln_post->forward(r.sum);
    }
    add(sum(mul(r.out, up_out)), sum(mul(r.sum, up_sum))).backward();
    std::vector<Tensor> got = {r.out.detach(), r.sum.detach(), x.grad()};
    for (auto& [name, p] : vit.named_parameters())
      if (p.grad().defined()) got.push_back(p.grad());
    return got;
  };
  const std::vector<Tensor> fused = run(true), plain = run(false);
  REQUIRE(fused.size() == plain.size());
  REQUIRE(fused.size() > 3 + 3 * 8);  // outputs, the input's grad and every block's parameters
  for (size_t i = 0; i < fused.size(); ++i) require_close(fused[i], plain[i], 1e-12, 1e-12);
}
