// scale_shift_loss: hand values, a float64 composite of engine ops (median built by index, so its
// gradient is autograd's) and edge cases; finite differences and CUDA against the CPU are op-table rows
// (tests/op_table/rows_index_loss.cpp).
#include <algorithm>
#include <cmath>
#include <map>

#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

Tensor vec(const std::vector<double>& v) { return Tensor::from_vector_f64(v, {int64_t(v.size())}); }
Tensor ids(const std::vector<int64_t>& v) { return Tensor::from_vector_i64(v, {int64_t(v.size())}); }

// torch.median's value is sorted[(n-1)/2]; its gradient is shared evenly by all elements equal to it,
// which is exactly the gradient of the mean of those elements.
Tensor torch_median(const Tensor& x) {
  std::vector<double> v = x.to_vector_f64(), sorted = v;
  std::sort(sorted.begin(), sorted.end());
  const double t = sorted[(sorted.size() - 1) / 2];
  std::vector<int64_t> tied;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == t) tied.push_back(int64_t(i));
  return mean(index_select(x, 0, ids(tied)));
}

Tensor normalize_side(const Tensor& x, double eps) {
  Tensor d = sub(x, torch_median(x));
  return div(d, add(mean(abs(d)), eps));
}

// The reference computation of sind.md §2 from engine ops, scene by scene.
Tensor composite_loss(const Tensor& pred, const Tensor& mos, const std::vector<int64_t>& scenes, double eps = 1e-8) {
  std::vector<int64_t> order;
  std::map<int64_t, std::vector<int64_t>> members;
  for (size_t i = 0; i < scenes.size(); ++i) {
    if (!members.count(scenes[i])) order.push_back(scenes[i]);
    members[scenes[i]].push_back(int64_t(i));
  }
  Tensor total;
  for (int64_t s : order) {
    Tensor idx = ids(members[s]);
    Tensor l = l1_loss(normalize_side(index_select(pred, 0, idx), eps), normalize_side(index_select(mos, 0, idx), eps));
    total = total.defined() ? add(total, l) : l;
  }
  return mul(total, 1.0 / double(order.size()));
}

// Compares loss and both gradients of the op with the composite, in f64.
void check_against_composite(const Tensor& pred0, const Tensor& mos0, const std::vector<int64_t>& scenes) {
  Tensor p1 = pred0.detach().clone().set_requires_grad(true), m1 = mos0.detach().clone().set_requires_grad(true);
  Tensor p2 = pred0.detach().clone().set_requires_grad(true), m2 = mos0.detach().clone().set_requires_grad(true);
  Tensor got = scale_shift_loss(p1, m1, ids(scenes));
  Tensor want = composite_loss(p2, m2, scenes);
  REQUIRE(got.dim() == 0);
  require_close(got, want, 1e-12, 1e-12, "loss");
  got.backward();
  want.backward();
  require_close(p1.grad(), p2.grad(), 1e-10, 1e-10, "grad pred");
  require_close(m1.grad(), m2.grad(), 1e-10, 1e-10, "grad mos");
}

std::vector<int64_t> random_scenes(int n, int scenes, uint64_t seed) {
  manual_seed(seed);
  std::vector<float> u = Tensor::rand({n}).to_vector();
  std::vector<int64_t> s(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) s[size_t(i)] = 100 + int64_t(u[size_t(i)] * float(scenes));
  return s;
}

}  // namespace

TEST_CASE("scale_shift_loss matches hand values", "[kernels][scale_shift]") {
  // Scene 7: pred (1, 2, 4) -> median 2, s 1, p̂ (-1, 0, 2); mos (2, 1, 3) -> median 2, s 2/3,
  // ĝ (0, -1.5, 1.5); mean |p̂ - ĝ| = (1 + 1.5 + 0.5) / 3 = 1.
  // Scene 3: pred (9, 5) -> lower median 5, p̂ (2, 0); mos (0, 1) -> ĝ (0, 2); loss 2. Mean: 1.5.
  Tensor pred = vec({1, 9, 2, 5, 4}), mos = vec({2, 0, 1, 1, 3});
  Tensor scenes = ids({7, 3, 7, 3, 7});
  REQUIRE(std::abs(scale_shift_loss(pred, mos, scenes).item() - 1.5) < 1e-6);
  REQUIRE(std::abs(scale_shift_loss(pred, mos, scenes, 0.0).item() - 1.5) < 1e-14);
  // f32 gives the same number; one scene of everything differs.
  REQUIRE(std::abs(scale_shift_loss(pred.to(DType::F32), mos.to(DType::F32), scenes).item() - 1.5) < 1e-6);
  REQUIRE(std::abs(scale_shift_loss(pred, mos, ids({1, 1, 1, 1, 1})).item() - 1.5) > 1e-3);
  REQUIRE_THROWS_AS(scale_shift_loss(pred, mos, ids({1, 2})), Error);
  REQUIRE_THROWS_AS(scale_shift_loss(pred, mos.to(DType::F32), scenes), Error);
  REQUIRE_THROWS_AS(scale_shift_loss(pred, mos, scenes.to(DType::F64)), Error);
}

TEST_CASE("scale_shift_loss degenerate groups stay finite", "[kernels][scale_shift]") {
  // A single-element scene: d = 0, MAD 0 -> divides by eps; loss 0 and no gradient.
  Tensor p = vec({0.7}).set_requires_grad(true), m = vec({3.0}).set_requires_grad(true);
  Tensor l = scale_shift_loss(p, m, ids({5}));
  REQUIRE(l.item() == 0.0);
  l.backward();
  REQUIRE(p.grad().item() == 0.0);
  REQUIRE(m.grad().item() == 0.0);

  // Constant MOS in one scene, next to a normal scene: finite, and equal to the composite.
  Tensor pred = vec({0.1, 0.5, -0.3, 0.9, 0.2, 0.4}), mos = vec({2, 2, 2, 1, 4, 3});
  std::vector<int64_t> scenes = {0, 0, 0, 1, 1, 1};
  Tensor v = scale_shift_loss(pred, mos, ids(scenes));
  REQUIRE(std::isfinite(v.item()));
  check_against_composite(pred, mos, scenes);
  // Constant MOS: ĝ = 0, so scene 0 contributes mean |p̂| = (0.4 + 0 + 0.4) / 3 / (0.8 / 3) = 1 (eps aside).
  REQUIRE(std::abs(scale_shift_loss(vec({0.1, 0.5, -0.3}), vec({2, 2, 2}), ids({0, 0, 0})).item() - 1.0) < 1e-6);
}

TEST_CASE("scale_shift_loss equals the composite of engine ops, with gradients", "[kernels][scale_shift]") {
  SECTION("odd batch, a few scenes") {
    std::vector<int64_t> s = random_scenes(37, 5, 3);
    check_against_composite(rand_f64({37}, -2, 2, 11), rand_f64({37}, 0, 100, 12), s);
  }
  SECTION("many scenes, some with one or two elements") {
    std::vector<int64_t> s = random_scenes(64, 40, 4);
    s[0] = 999;  // a scene of its own
    check_against_composite(rand_f64({64}, -1, 1, 13), rand_f64({64}, 1, 5, 14), s);
  }
  SECTION("one scene, even size") { check_against_composite(rand_f64({32}, -1, 1, 15), rand_f64({32}, 1, 5, 16), std::vector<int64_t>(32, 4)); }
  SECTION("tied medians share the gradient like torch.median") {
    // pred ties at its median 1 (twice in scene 0); mos ties at its median 2 (three times in scene 1).
    check_against_composite(vec({1, 3, 1, 0.5, 2, 7, 2, 2, -1}), vec({4, 5, 0, 1, 2, 2, 9, 2, 3}),
                            {0, 0, 0, 0, 1, 1, 1, 1, 1});
  }
  SECTION("scene ids need not be sorted or small") {
    check_against_composite(rand_f64({9}, -1, 1, 17), rand_f64({9}, -1, 1, 18),
                            {int64_t(1) << 40, -3, 17, -3, int64_t(1) << 40, 17, 17, -3, int64_t(1) << 40});
  }
}

TEST_CASE("scale_shift_loss f32 agrees with f64", "[kernels][scale_shift]") {
  Tensor pred = rand_f64({101}, -3, 3, 41), mos = rand_f64({101}, 0, 100, 42);
  Tensor scenes = ids(random_scenes(101, 4, 43));
  Tensor p32 = pred.detach().to(DType::F32).set_requires_grad(true);
  Tensor l32 = scale_shift_loss(p32, mos.detach().to(DType::F32), scenes);
  Tensor p64 = pred.detach().clone().set_requires_grad(true);
  Tensor l64 = scale_shift_loss(p64, mos.detach(), scenes);
  require_close(l32, l64, 1e-5, 1e-6, "loss");
  l32.backward();
  l64.backward();
  require_close(p32.grad(), p64.grad(), 1e-4, 1e-5, "grad pred");
}

// ---- scene_l1_loss: the same launch without normalisation ----------------------------------------

namespace {
// Σ over scenes (first appearance order irrelevant) of mean |p - g| within the scene, / scenes, in f64
// engine ops, so the gradient comes from autograd.
Tensor scene_l1_composite(const Tensor& pred, const Tensor& mos, const std::vector<int64_t>& scenes) {
  std::map<int64_t, std::vector<int64_t>> groups;
  for (size_t i = 0; i < scenes.size(); ++i) groups[scenes[i]].push_back(int64_t(i));
  Tensor total;
  for (const auto& [id, members] : groups) {
    Tensor index = Tensor::from_vector_i64(members, {int64_t(members.size())});
    Tensor l = mean(abs(index_select(pred, 0, index) - index_select(mos, 0, index)));
    total = total.defined() ? total + l : l;
  }
  return total * (1.0 / double(groups.size()));
}
}  // namespace

TEST_CASE("scene_l1_loss matches hand values and plain L1", "[kernels][scale_shift]") {
  // Scene 0: |1-0|, |2-4| -> mean 1.5; scene 1: |5-5|, |0-3|, |1-1| -> mean 1. Loss (1.5 + 1) / 2.
  Tensor pred = vec({1, 5, 2, 0, 1}), mos = vec({0, 5, 4, 3, 1});
  REQUIRE(std::abs(scene_l1_loss(pred, mos, ids({0, 1, 0, 1, 1})).item() - 1.25) < 1e-14);
  // One scene id: exactly F.l1_loss (mean over the batch) = 6 / 5.
  REQUIRE(std::abs(scene_l1_loss(pred, mos, ids({7, 7, 7, 7, 7})).item() - 1.2) < 1e-14);
  REQUIRE(std::abs(l1_loss(pred, mos).item() - 1.2) < 1e-14);
  REQUIRE_THROWS_AS(scene_l1_loss(pred, mos, ids({1, 2})), Error);
}

TEST_CASE("scene_l1_loss equals the composite of engine ops, with gradients", "[kernels][scale_shift]") {
  for (uint64_t seed : {61, 62, 63}) {
    const int n = int(seed) - 30;
    std::vector<int64_t> s = random_scenes(n, 4, seed);
    Tensor p1 = rand_f64({n}, -2, 2, seed).detach().set_requires_grad(true);
    Tensor m1 = rand_f64({n}, 0, 5, seed + 100).detach().set_requires_grad(true);
    Tensor p2 = p1.detach().clone().set_requires_grad(true), m2 = m1.detach().clone().set_requires_grad(true);
    Tensor got = scene_l1_loss(p1, m1, ids(s)), want = scene_l1_composite(p2, m2, s);
    require_close(got, want, 1e-12, 1e-12, "loss");
    got.backward();
    want.backward();
    require_close(p1.grad(), p2.grad(), 1e-12, 1e-12, "grad pred");
    require_close(m1.grad(), m2.grad(), 1e-12, 1e-12, "grad mos");
  }
}
