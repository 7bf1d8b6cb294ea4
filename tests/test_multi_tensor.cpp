// Multi-tensor optimizer steps: the launch planner (pure host code, CPU) and, on a GPU, the multi-tensor
// path of SGD / Adam / AdamW against the per-parameter kernels.
#include <algorithm>
#include <cmath>

#include "engine/cuda_runtime.h"
#include "engine/optim.h"
#include "kernels/multi_tensor_plan.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;
using kernels::MultiTensorLaunchPlan;
using kernels::plan_multi_tensor_launches;

namespace {

// Every chunk of every non-empty tensor appears exactly once, in order, and no launch exceeds its limits.
void check_plan_covers(const std::vector<int64_t>& numels, int64_t chunk, int max_tensors, int max_blocks) {
  std::vector<MultiTensorLaunchPlan> plans = plan_multi_tensor_launches(numels, chunk, max_tensors, max_blocks);
  std::vector<std::pair<int32_t, int64_t>> seen;
  for (const auto& p : plans) {
    REQUIRE(!p.block_slot.empty());
    REQUIRE(int(p.tensors.size()) <= max_tensors);
    REQUIRE(int(p.block_slot.size()) <= max_blocks);
    REQUIRE(p.block_slot.size() == p.block_chunk.size());
    for (size_t b = 0; b < p.block_slot.size(); ++b) {
      REQUIRE(p.block_slot[b] >= 0);
      REQUIRE(size_t(p.block_slot[b]) < p.tensors.size());
      seen.push_back({p.tensors[size_t(p.block_slot[b])], p.block_chunk[b]});
    }
  }
  std::vector<std::pair<int32_t, int64_t>> expect;
  for (size_t i = 0; i < numels.size(); ++i)
    for (int64_t c = 0; c * chunk < numels[i]; ++c) expect.push_back({int32_t(i), c});
  REQUIRE(seen == expect);
}

}  // namespace

TEST_CASE("multi-tensor launch plan: hand-checked small cases", "[optim][multi_tensor]") {
  // chunk 4, 2 tensors and 3 blocks per launch; the empty tensor 1 takes no slot.
  auto p = plan_multi_tensor_launches({5, 0, 3, 9, 1}, 4, 2, 3);
  REQUIRE(p.size() == 3);
  CHECK(p[0].tensors == std::vector<int32_t>{0, 2});
  CHECK(p[0].block_slot == std::vector<int32_t>{0, 0, 1});
  CHECK(p[0].block_chunk == std::vector<int64_t>{0, 1, 0});
  CHECK(p[1].tensors == std::vector<int32_t>{3});
  CHECK(p[1].block_chunk == std::vector<int64_t>{0, 1, 2});
  CHECK(p[2].tensors == std::vector<int32_t>{4});
  CHECK(p[2].block_slot == std::vector<int32_t>{0});
  // The tensor limit closes a launch: tensor 2 opens the second one.
  p = plan_multi_tensor_launches({1, 2, 3, 25}, 10, 2, 100);
  REQUIRE(p.size() == 2);
  CHECK(p[0].tensors == std::vector<int32_t>{0, 1});
  CHECK(p[1].tensors == std::vector<int32_t>{2, 3});
  CHECK(p[1].block_slot == std::vector<int32_t>{0, 1, 1, 1});
  CHECK(p[1].block_chunk == std::vector<int64_t>{0, 0, 1, 2});
  // A tensor split by the block limit continues in the next launch with its remaining chunks.
  p = plan_multi_tensor_launches({9}, 4, 3, 2);
  REQUIRE(p.size() == 2);
  CHECK(p[0].block_chunk == std::vector<int64_t>{0, 1});
  CHECK(p[1].tensors == std::vector<int32_t>{0});
  CHECK(p[1].block_chunk == std::vector<int64_t>{2});
  // Nothing to do.
  CHECK(plan_multi_tensor_launches({}, 4, 2, 2).empty());
  CHECK(plan_multi_tensor_launches({0, 0}, 4, 2, 2).empty());
  REQUIRE_THROWS_AS(plan_multi_tensor_launches({4}, 0, 2, 2), Error);
  REQUIRE_THROWS_AS(plan_multi_tensor_launches({-1}, 4, 2, 2), Error);
}

TEST_CASE("multi-tensor launch plan covers odd sizes exactly once", "[optim][multi_tensor]") {
  // ViT-B/16-like parameter sizes with odd extras, at the CUDA kernel's limits and at tiny ones.
  std::vector<int64_t> sizes = {768, 197 * 768, 768 * 3 * 16 * 16, 1, 0, 65537, 65536, 65535, 3 * 49, 22000000};
  for (int layer = 0; layer < 12; ++layer)
    for (int64_t s : {int64_t(768), int64_t(2304 * 768), int64_t(2304), int64_t(768 * 768), int64_t(3072 * 768),
                      int64_t(3072), int64_t(7)})
      sizes.push_back(s);
  check_plan_covers(sizes, 65536, 48, 320);
  check_plan_covers(sizes, 1000, 5, 7);
  check_plan_covers({1, 1, 1, 1, 1, 1, 1}, 1, 1, 1);
  check_plan_covers({13, 0, 29, 1}, 3, 255, 4);
}

TEST_CASE("CUDA multi-tensor SGD / Adam / AdamW steps equal the per-parameter kernels", "[optim][multi_tensor][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  // Odd sizes; 60 small tensors exceed the 48 tensors of one launch, the 22M-element one the 320 blocks.
  std::vector<Shape> shapes = {{3, 49}, {197, 768}, {768}, {1}, {70001}, {22000000}};
  for (int i = 0; i < 60; ++i) shapes.push_back({int64_t(5 + i)});
  enum class Kind { SgdPlain, SgdNesterov, Adam, AdamW };
  for (Kind kind : {Kind::SgdPlain, Kind::SgdNesterov, Kind::Adam, Kind::AdamW}) {
    INFO("optimizer " << int(kind));
    auto make_params = [&] {
      std::vector<Tensor> ps;
      for (size_t i = 0; i < shapes.size(); ++i) {
        manual_seed(100 + i);
        ps.push_back(Tensor::randn(shapes[i], DType::F32, cuda_device()).set_requires_grad(true));
      }
      return ps;
    };
    auto make_opt = [&](std::vector<Tensor> ps) -> std::unique_ptr<Optimizer> {
      // Two groups with their own lr / weight decay.
      std::vector<Tensor> a(ps.begin(), ps.begin() + 3), b(ps.begin() + 3, ps.end());
      std::vector<ParamGroup> groups = {ParamGroup{a, 1e-2, 0.05}, ParamGroup{b, 3e-3, 0.0}};
      switch (kind) {
        case Kind::SgdPlain: return std::make_unique<SGD>(groups, SGDOptions{});
        case Kind::SgdNesterov: return std::make_unique<SGD>(groups, SGDOptions{0.9, 0.0, true});
        case Kind::Adam: return std::make_unique<Adam>(groups);
        case Kind::AdamW: return std::make_unique<AdamW>(groups);
      }
      return nullptr;
    };
    std::vector<Tensor> p_multi = make_params(), p_single = make_params();
    auto opt_multi = make_opt(p_multi), opt_single = make_opt(p_single);
    opt_single->set_multi_tensor(false);
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < shapes.size(); ++i) {
        // Parameter 4 has no gradient on the first step: its step count lags (a separate launch for Adam).
        if (step == 0 && i == 4) continue;
        manual_seed(1000 * step + i);
        Tensor g = Tensor::randn(shapes[i], DType::F32, cuda_device());
        p_multi[i].set_grad(g.clone());
        p_single[i].set_grad(g.clone());
      }
      opt_multi->step();
      opt_single->step();
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      INFO("parameter " << i << " " << shape_str(shapes[i]));
      require_close(p_multi[i].detach().to(kCPU), p_single[i].detach().to(kCPU), 1e-6, 1e-7, "param");
      for (const char* buf : {"momentum_buffer", "exp_avg", "exp_avg_sq"}) {
        Tensor a = opt_multi->state_buffer(i, buf), b = opt_single->state_buffer(i, buf);
        REQUIRE(a.defined() == b.defined());
        if (a.defined()) require_close(a.to(kCPU), b.to(kCPU), 1e-6, 1e-7, buf);
      }
      REQUIRE(opt_multi->step_count(i) == opt_single->step_count(i));
    }
  }
}
