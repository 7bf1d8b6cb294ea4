// Optimizers, LR schedules, EMA and GradScaler against values worked out by hand.
#include <cmath>
#include <numbers>

#include "engine/amp.h"
#include "engine/ema.h"
#include "engine/lr_schedule.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {
Tensor param(const std::vector<float>& v, const Shape& shape) {
  Tensor p = Tensor::from_vector(v, shape);
  p.set_requires_grad(true);
  return p;
}
void set_grad(Tensor& p, const std::vector<float>& g) { p.set_grad(Tensor::from_vector(g, p.shape())); }
double value(const Tensor& p) { return p.item(); }
}  // namespace

TEST_CASE("SGD with momentum and coupled weight decay matches hand values", "[optim]") {
  // lr 0.1, momentum 0.9, wd 0.1, p0 = 1, gradient 1 every step:
  // d1 = 1.1,     buf1 = 1.1,                 p1 = 1 - 0.11        = 0.89
  // d2 = 1.089,   buf2 = 0.99 + 1.089 = 2.079, p2 = 0.89 - 0.2079   = 0.6821
  // d3 = 1.06821, buf3 = 1.8711 + 1.06821 = 2.93931, p3 = 0.6821 - 0.293931 = 0.388169
  Tensor p = param({1.0f}, {1});
  SGD opt({ParamGroup{{p}, 0.1, 0.1}}, SGDOptions{0.9});
  const double expect[] = {0.89, 0.6821, 0.388169};
  for (double e : expect) {
    set_grad(p, {1.0f});
    opt.step();
    REQUIRE(std::abs(value(p) - e) < 1e-6);
  }
  REQUIRE(std::abs(opt.state_buffer(0, "momentum_buffer").item() - 2.93931) < 1e-5);
  // Plain SGD: p -= lr * g.
  Tensor q = param({2.0f, -1.0f}, {2});
  SGD plain({ParamGroup{{q}, 0.5}});
  set_grad(q, {1.0f, 4.0f});
  plain.step();
  require_close(q.to_vector_f64(), {1.5, -3.0}, 0, 1e-7, "plain sgd");
  REQUIRE_FALSE(plain.state_buffer(0, "momentum_buffer").defined());
}

TEST_CASE("Adam adds weight decay to the gradient (coupled L2)", "[optim]") {
  // lr 0.1, wd 0.1, p0 = 1, gradient 1: the step uses g = 1 + 0.1 p. The first bias-corrected step
  // is lr * g / (|g| + eps) = 0.1 (up to eps), so p1 = 0.9.
  Tensor p = param({1.0f}, {1});
  Adam opt({ParamGroup{{p}, 0.1, 0.1}});
  double ref_p = 1, m = 0, v = 0;
  for (int t = 1; t <= 3; ++t) {
    set_grad(p, {1.0f});
    opt.step();
    double g = 1 + 0.1 * ref_p;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    double step_size = 0.1 / (1 - std::pow(0.9, t));
    ref_p -= step_size * m / (std::sqrt(v) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8);
    REQUIRE(std::abs(value(p) - ref_p) < 1e-6);
    REQUIRE(opt.step_count(0) == t);
  }
  REQUIRE(std::abs(ref_p - 0.70009135) < 1e-7);  // the hand recurrence itself, for the record
  REQUIRE(std::abs(opt.state_buffer(0, "exp_avg").item() - m) < 1e-6);
}

TEST_CASE("AdamW decays the weight outside the moments", "[optim]") {
  // With a constant gradient the bias-corrected Adam step is exactly lr, so
  // p_t = 0.99 p_{t-1} - 0.1: 0.89, 0.7811, 0.673289.
  Tensor p = param({1.0f}, {1});
  AdamW opt({ParamGroup{{p}, 0.1, 0.1}});
  const double expect[] = {0.89, 0.7811, 0.673289};
  for (double e : expect) {
    set_grad(p, {1.0f});
    opt.step();
    REQUIRE(std::abs(value(p) - e) < 1e-6);
  }
}

TEST_CASE("AdamP removes the radial component when grad is orthogonal to the weight", "[optim]") {
  // Each row of g is orthogonal to the row of p, so the per-channel test fires. The first step's
  // direction is sign(g) (times lr after bias correction). Row 0: p_n = (1,2)/sqrt5, d = (1,-1),
  // p_n.d = -1/sqrt5, d - p_n (p_n.d) = (1.2, -0.6). Row 1: p_n = (2,-1)/sqrt5, d = (1,1) ->
  // (0.6, 1.2). Weight decay shrinks to lr*wd*wd_ratio = 0.001: p1 = 0.999 p - 0.1 d.
  Tensor p = param({1, 2, 2, -1}, {2, 2});
  AdamP opt({ParamGroup{{p}, 0.1, 0.1}});
  set_grad(p, {2, -1, 1, 2});
  opt.step();
  REQUIRE(opt.last_projected(0));
  require_close(p.to_vector_f64(), {0.999 - 0.12, 1.998 + 0.06, 1.998 - 0.06, -0.999 - 0.12}, 1e-6, 1e-6,
                "adamp projected");
}

TEST_CASE("AdamP without projection is AdamW, the layer-wide test applies wd_ratio", "[optim]") {
  SECTION("gradient parallel to the weight: no projection, full decoupled decay") {
    Tensor p = param({1, 2, 2, -1}, {2, 2});
    AdamP opt({ParamGroup{{p}, 0.1, 0.1}});
    set_grad(p, {1, 2, 2, -1});
    opt.step();
    REQUIRE_FALSE(opt.last_projected(0));
    require_close(p.to_vector_f64(), {0.89, 1.88, 1.88, -0.89}, 1e-6, 1e-6, "adamp plain");
  }
  SECTION("rows parallel, whole tensor orthogonal: the layer view fires") {
    // Row cosines are 1 (no channel projection) but g.p = 1 - 1 = 0 over the whole tensor. The
    // direction (1,0,0,-1) is already orthogonal to p, so only the weight decay changes: 0.999.
    Tensor p = param({1, 0, 0, 1}, {2, 2});
    AdamP opt({ParamGroup{{p}, 0.1, 0.1}});
    set_grad(p, {1, 0, 0, -1});
    opt.step();
    REQUIRE(opt.last_projected(0));
    require_close(p.to_vector_f64(), {0.899, 0, 0, 1.099}, 1e-6, 1e-6, "adamp layer");
  }
  SECTION("one-dimensional parameters are never projected") {
    Tensor p = param({1, 2}, {2});
    AdamP opt({ParamGroup{{p}, 0.1, 0.1}});
    set_grad(p, {2, -1});
    opt.step();
    REQUIRE_FALSE(opt.last_projected(0));
    require_close(p.to_vector_f64(), {0.99 - 0.1, 1.98 + 0.1}, 1e-6, 1e-6, "adamp 1-d");
  }
}

namespace {
// The adamp package's step for one parameter, in f64 on the host (rows = size(0) for the channel view).
struct AdamPReference {
  std::vector<double> p, m, v;
  int64_t rows;
  int64_t step = 0;
  bool projected = false;

  void update(const std::vector<double>& g, double lr, double wd, const AdamPOptions& o) {
    ++step;
    const size_t n = p.size();
    std::vector<double> d(n);
    const double bc1 = 1 - std::pow(o.beta1, double(step)), bc2 = 1 - std::pow(o.beta2, double(step));
    for (size_t i = 0; i < n; ++i) {
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
      d[i] = m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + o.eps);
    }
    double wd_ratio = 1;
    projected = false;
    for (int64_t view_rows : {rows, int64_t(1)}) {
      if (rows == 0 || projected) break;
      const size_t cols = n / size_t(view_rows);
      double worst = 0;
      for (size_t r = 0; r < size_t(view_rows); ++r) {
        double gp = 0, gg = 0, pp = 0;
        for (size_t c = 0; c < cols; ++c) {
          size_t i = r * cols + c;
          gp += g[i] * p[i], gg += g[i] * g[i], pp += p[i] * p[i];
        }
        worst = std::max(worst, std::abs(gp) / (std::max(std::sqrt(gg), o.eps) * std::max(std::sqrt(pp), o.eps)));
      }
      if (!(worst < o.delta / std::sqrt(double(cols)))) continue;
      for (size_t r = 0; r < size_t(view_rows); ++r) {
        double pp = 0, pd = 0;
        for (size_t c = 0; c < cols; ++c) pp += p[r * cols + c] * p[r * cols + c];
        const double norm = std::sqrt(pp) + o.eps;
        for (size_t c = 0; c < cols; ++c) pd += p[r * cols + c] / norm * d[r * cols + c];
        for (size_t c = 0; c < cols; ++c) d[r * cols + c] -= p[r * cols + c] / norm * pd;
      }
      projected = true;
      wd_ratio = o.wd_ratio;
    }
    for (size_t i = 0; i < n; ++i) p[i] = p[i] * (1 - lr * wd * wd_ratio) - lr / bc1 * d[i];
  }
};
}  // namespace

TEST_CASE("AdamP equals the adamp package's step computed in f64 (channel, layer and no projection)", "[optim]") {
  // Parameter 0: random, gradients random (not projected). Parameter 1: each gradient row orthogonal to
  // its weight row (channel projection). Parameter 2: 1-d (never projected).
  manual_seed(21);
  std::vector<Tensor> ps = {Tensor::randn({4, 6}), Tensor::randn({3, 5}), Tensor::randn({5})};
  std::vector<AdamPReference> ref;
  for (Tensor& p : ps) {
    p.set_requires_grad(true);
    std::vector<double> v = p.to_vector_f64();
    ref.push_back({v, std::vector<double>(v.size()), std::vector<double>(v.size()), p.dim() > 1 ? p.size(0) : 0});
  }
  const AdamPOptions o;
  AdamP opt({ParamGroup{ps, 0.05, 0.02}}, o);
  for (int step = 0; step < 4; ++step) {
    for (size_t k = 0; k < ps.size(); ++k) {
      std::vector<float> g = Tensor::randn(ps[k].shape()).to_vector();
      if (k == 1) {  // remove each row's component along the current weight row
        std::vector<float> w = ps[k].to_vector();
        const size_t cols = 5;
        for (size_t r = 0; r < 3; ++r) {
          double gw = 0, ww = 0;
          for (size_t c = 0; c < cols; ++c) {
            gw += double(g[r * cols + c]) * w[r * cols + c];
            ww += double(w[r * cols + c]) * w[r * cols + c];
          }
          for (size_t c = 0; c < cols; ++c) g[r * cols + c] -= float(gw / ww * w[r * cols + c]);
        }
      }
      set_grad(ps[k], g);
      ref[k].update(std::vector<double>(g.begin(), g.end()), 0.05, 0.02, o);
    }
    opt.step();
    for (size_t k = 0; k < ps.size(); ++k) {
      INFO("step " << step << ", parameter " << k);
      CHECK(opt.last_projected(k) == ref[k].projected);
      require_close(ps[k].to_vector_f64(), ref[k].p, 1e-5, 1e-6, "adamp vs reference");
    }
  }
  CHECK_FALSE(ref[0].projected);
  CHECK(ref[1].projected);
}

TEST_CASE("optimizer state_dict resumes bit-exactly, groups keep their own lr", "[optim]") {
  auto run = [](int steps_before, int steps_after, bool reload) {
    manual_seed(3);
    Tensor a = Tensor::randn({5, 3}).set_requires_grad(true);
    Tensor b = Tensor::randn({7}).set_requires_grad(true);
    auto make = [&] { return std::make_unique<Adam>(std::vector<ParamGroup>{{{a}, 0.01, 1e-2}, {{b}, 0.05}}); };
    auto opt = make();
    auto grads = [&](int t) {
      a.set_grad(mul(a.detach(), 0.5 + t));
      b.set_grad(add(b.detach(), double(t)));
    };
    for (int t = 0; t < steps_before; ++t) {
      grads(t);
      opt->step();
    }
    if (reload) {
      NamedTensors sd = opt->state_dict();
      std::map<std::string, Tensor> m;
      for (auto& [k, v] : sd) m[k] = v.clone();
      opt = make();
      opt->load_state_dict(m);
    }
    for (int t = steps_before; t < steps_before + steps_after; ++t) {
      grads(t);
      opt->step();
    }
    return std::make_pair(a.to_vector(), b.to_vector());
  };
  auto straight = run(5, 0, false);
  auto resumed = run(3, 2, true);
  REQUIRE(straight.first == resumed.first);
  REQUIRE(straight.second == resumed.second);

  Tensor p = param({1.0f}, {1});
  Adam opt({ParamGroup{{p}, 0.1}});
  set_grad(p, {1.0f});
  opt.step();
  auto sd = opt.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, _] : sd) keys.push_back(k);
  REQUIRE(keys == std::vector<std::string>{"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq",
                                           "param_groups.0.lr", "param_groups.0.initial_lr"});
  std::map<std::string, Tensor> bad{{"state.0.step", Tensor::full({}, 1, DType::I64)},
                                    {"state.0.exp_avg", Tensor::zeros({2})},
                                    {"state.0.exp_avg_sq", Tensor::zeros({1})}};
  REQUIRE_THROWS_WITH(opt.load_state_dict(bad), Catch::Contains("state.0.exp_avg") && Catch::Contains("(2,)"));
  std::map<std::string, Tensor> missing{{"state.0.step", Tensor::full({}, 1, DType::I64)}};
  REQUIRE_THROWS_WITH(opt.load_state_dict(missing), Catch::Contains("missing 'state.0.exp_avg"));
  std::map<std::string, Tensor> out_of_range{{"state.4.step", Tensor::full({}, 1, DType::I64)}};
  REQUIRE_THROWS_AS(opt.load_state_dict(out_of_range), Error);
}

TEST_CASE("parameters without a gradient are skipped, zero_grad drops gradients", "[optim]") {
  Tensor a = param({1.0f}, {1}), b = param({1.0f}, {1});
  SGD opt({ParamGroup{{a, b}, 1.0}});
  set_grad(a, {0.25f});
  opt.step();
  REQUIRE(value(a) == 0.75);
  REQUIRE(value(b) == 1.0);
  REQUIRE(opt.step_count(1) == 0);
  opt.zero_grad();
  REQUIRE_FALSE(a.grad().defined());
  REQUIRE_THROWS_AS(SGD({ParamGroup{{Tensor::zeros({2}, DType::F64).set_requires_grad(true)}, 0.1}}), Error);
}

TEST_CASE("WarmupCosine follows sind.md section 4", "[optim][schedule]") {
  const int64_t E = 1000;  // batches per epoch
  WarmupCosine s(5 * E, 35 * E);
  const double base = 1e-5;
  REQUIRE(s.lr_at(0, base) == 0.0);
  REQUIRE(std::abs(s.lr_at(2500, base) - 0.5 * base) < 1e-18);
  REQUIRE(std::abs(s.lr_at(5 * E, base) - base) < 1e-18);
  // Half of T after the warmup: cos(pi/2) = 0 -> base/2 (T is the whole run, not T - W).
  REQUIRE(std::abs(s.lr_at(5 * E + 35 * E / 2, base) - 0.5 * base) < 1e-18);
  // The loop runs 36 epochs: the last step is 36E - 1, lr = 0.5(1 + cos(pi * 30999/35000)) base.
  double last = s.lr_at(36 * E - 1, base);
  REQUIRE(std::abs(last / base - 0.5 * (1 + std::cos(std::numbers::pi * 30999.0 / 35000.0))) < 1e-12);
  REQUIRE(std::abs(last / base - 0.0319) < 1e-3);  // "the final lr is about 0.031 base"
}

TEST_CASE("StepDecay and CosineAnnealing closed forms, apply() uses per-group base lrs", "[optim][schedule]") {
  StepDecay step(5, 0.9);
  REQUIRE(step.lr_at(0, 0.01) == 0.01);
  REQUIRE(step.lr_at(4, 0.01) == 0.01);
  REQUIRE(std::abs(step.lr_at(5, 0.01) - 0.009) < 1e-15);
  REQUIRE(std::abs(step.lr_at(119, 0.01) - 0.01 * std::pow(0.9, 23)) < 1e-15);

  CosineAnnealing cos(10, 0.001);
  REQUIRE(std::abs(cos.lr_at(0, 0.1) - 0.1) < 1e-15);
  REQUIRE(std::abs(cos.lr_at(5, 0.1) - 0.0505) < 1e-15);
  REQUIRE(std::abs(cos.lr_at(10, 0.1) - 0.001) < 1e-15);

  Tensor a = param({1.0f}, {1}), b = param({1.0f}, {1});
  SGD opt({ParamGroup{{a}, 0.1}, ParamGroup{{b}, 0.4}});
  WarmupCosine w(4, 8);
  w.apply(opt, 2);
  REQUIRE(opt.param_groups()[0].lr == 0.05);
  REQUIRE(opt.param_groups()[1].lr == 0.2);
  w.apply(opt, 4);
  REQUIRE(opt.param_groups()[1].lr == 0.4);  // from initial_lr, not the current lr
}

TEST_CASE("EMA follows torch_ema with the num_updates warm-up", "[optim][ema]") {
  // d_n = min(0.99, (1+n)/(10+n)): 2/11, 3/12, 4/13. Shadow starts at 1; params 2, 3, 4:
  // s1 = 1 + (9/11)(2 - 1) = 1.8181818;  s2 = s1 + 0.75 (3 - s1) = 2.7045455;
  // s3 = s2 + (9/13)(4 - s2) = 3.6013986.
  Tensor p = param({1.0f}, {1});
  Tensor frozen = Tensor::from_vector({5.0f}, {1});  // no requires_grad: not tracked
  ExponentialMovingAverage ema({p, frozen}, 0.99);
  REQUIRE(ema.shadow().size() == 1);
  const double expect[] = {1.8181818, 2.7045455, 3.6013986};
  for (int i = 0; i < 3; ++i) {
    p.fill_(2.0 + i);
    ema.update();
    REQUIRE(std::abs(ema.shadow()[0].item() - expect[i]) < 1e-6);
  }
  REQUIRE(ema.num_updates() == 3);
  {
    auto scope = ema.average_parameters();
    REQUIRE(std::abs(value(p) - 3.6013986) < 1e-6);
  }
  REQUIRE(value(p) == 4.0);

  ExponentialMovingAverage fixed({p}, 0.99, false);
  p.fill_(5.0);
  fixed.update();
  REQUIRE(std::abs(fixed.shadow()[0].item() - (4.0 + 0.01 * 1.0)) < 1e-6);

  auto sd = ema.state_dict();
  std::map<std::string, Tensor> m;
  for (auto& [k, v] : sd) m[k] = v.clone();
  ExponentialMovingAverage other({p}, 0.99);
  other.load_state_dict(m);
  REQUIRE(other.num_updates() == 3);
  REQUIRE(std::abs(other.shadow()[0].item() - 3.6013986) < 1e-6);
}

TEST_CASE("GradScaler unscales, skips steps on inf/NaN, grows and backs off", "[optim][amp]") {
  amp::GradScaler::Options o;
  o.init_scale = 8.0;
  o.growth_interval = 3;
  amp::GradScaler scaler(o);
  Tensor p = param({1.0f, 2.0f}, {2});
  SGD opt({ParamGroup{{p}, 1.0}});

  Tensor loss = sum(mul(p, p));  // gradient 2p
  scaler.scale(loss).backward();
  REQUIRE(p.grad().to_vector() == std::vector<float>{16, 32});
  REQUIRE(scaler.step(opt));
  require_close(p.to_vector_f64(), {-1.0, -2.0}, 0, 1e-7, "unscaled step");
  scaler.update();
  REQUIRE(scaler.get_scale() == 8.0);
  REQUIRE(scaler.growth_tracker() == 1);

  opt.zero_grad();
  set_grad(p, {INFINITY, 1.0f});
  REQUIRE_FALSE(scaler.step(opt));
  REQUIRE(scaler.found_inf());
  require_close(p.to_vector_f64(), {-1.0, -2.0}, 0, 1e-12, "skipped step");
  scaler.update();
  REQUIRE(scaler.get_scale() == 4.0);
  REQUIRE(scaler.growth_tracker() == 0);

  set_grad(p, {NAN, 1.0f});
  REQUIRE_FALSE(scaler.step(opt));
  scaler.update();
  REQUIRE(scaler.get_scale() == 2.0);

  for (int i = 0; i < 3; ++i) {
    set_grad(p, {0.0f, 0.0f});
    REQUIRE(scaler.step(opt));
    scaler.update();
  }
  REQUIRE(scaler.get_scale() == 4.0);  // three good steps in a row: x2
  REQUIRE(scaler.growth_tracker() == 0);
  REQUIRE_THROWS_AS(scaler.update(), Error);  // no step since the last update
}

TEST_CASE("CUDA optimizer kernels match the CPU ones", "[optim][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const Shape shape{197, 49};
  manual_seed(11);
  Tensor p0 = Tensor::randn(shape), g0 = Tensor::randn(shape);
  auto run = [&](Device dev, int which) {
    Tensor p = p0.to(dev).clone().detach().set_requires_grad(true);
    std::unique_ptr<Optimizer> opt;
    std::vector<ParamGroup> groups{ParamGroup{{p}, 0.01, 0.05}};
    if (which == 0) opt = std::make_unique<SGD>(groups, SGDOptions{0.9});
    if (which == 1) opt = std::make_unique<Adam>(groups);
    if (which == 2) opt = std::make_unique<AdamW>(groups);
    if (which == 3) opt = std::make_unique<AdamP>(groups);
    for (int t = 0; t < 4; ++t) {
      p.set_grad(mul(g0.to(dev), 1.0 + t));
      opt->step();
    }
    return p.cpu();
  };
  const char* names[] = {"sgd", "adam", "adamw", "adamp"};
  for (int which = 0; which < 4; ++which) {
    INFO(names[which]);
    require_close(run(cuda_device(), which), run(kCPU, which), 1e-5, 1e-6, names[which]);
  }

  Tensor pc = p0.to(cuda_device()).detach().set_requires_grad(true);
  Tensor pcpu = p0.clone().detach().set_requires_grad(true);
  ExponentialMovingAverage ec({pc}), ecpu({pcpu});
  for (int t = 0; t < 3; ++t) {
    pc.copy_(mul(g0, double(t)));
    pcpu.copy_(mul(g0, double(t)));
    ec.update();
    ecpu.update();
  }
  require_close(ec.shadow()[0].cpu(), ecpu.shadow()[0], 1e-6, 1e-6, "ema");

  amp::GradScaler scaler;
  SGD opt({ParamGroup{{pc}, 0.0}});
  pc.set_grad(mul(g0.to(cuda_device()), 65536.0));
  REQUIRE(scaler.step(opt));
  require_close(pc.grad().cpu(), g0, 1e-6, 1e-6, "unscale");
  scaler.update();
  Tensor bad = g0.clone();
  bad.data<float>()[1234] = NAN;
  pc.set_grad(bad.to(cuda_device()));
  REQUIRE_FALSE(scaler.step(opt));
  scaler.update();
  REQUIRE(scaler.get_scale() == 32768.0);
}
