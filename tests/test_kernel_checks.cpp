// The host-side policies of the CUDA kernels, which the CPU can check without a GPU: the
// IQA_CUDA_SYNC_CHECK switch, the fusion head's block shape, and the order and fallbacks of the cuDNN
// algorithm choice (kernels/sync_check.h, kernels/fusion_head.h, kernels/conv_algo.h).
#include "kernels/conv_algo.h"
#include "kernels/fusion_head.h"
#include "kernels/sync_check.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::kernels;
using kernels::cuda::fusion_head_forward_launch;
using kernels::cuda::FusionHeadForwardLaunch;

TEST_CASE("IQA_CUDA_SYNC_CHECK values", "[kernel_checks]") {
  CHECK_FALSE(sync_check_value_enabled(nullptr));
  CHECK_FALSE(sync_check_value_enabled(""));
  CHECK_FALSE(sync_check_value_enabled("0"));
  CHECK(sync_check_value_enabled("1"));
  CHECK(sync_check_value_enabled("yes"));
  CHECK(sync_check_value_enabled("00"));  // only "0" itself means off
}

TEST_CASE("fusion head forward blocks are whole warps covering every lane", "[kernel_checks][fusion_head]") {
  struct Case {
    int64_t tokens, width;
    int pack, lanes, slices;
  };
  // 169 and 196 single-value columns give 3 x 169 = 507 and 2 x 196 = 392 reading threads.
  for (const Case& c : {Case{196, 768, 8, 96, 5}, Case{196, 768, 4, 192, 2}, Case{196, 768, 1, 768, 1},
                        Case{196, 169, 1, 169, 3}, Case{196, 196, 1, 196, 2}, Case{196, 196, 2, 98, 5},
                        Case{2, 8, 8, 1, 2},
                        Case{196, 12288, 1, 1024, 1}}) {
    INFO("N " << c.tokens << " D " << c.width << " pack " << c.pack);
    const FusionHeadShape s{4, 512, c.tokens, c.width};
    const FusionHeadForwardLaunch l = fusion_head_forward_launch(s, c.pack);
    CHECK(l.lanes == c.lanes);
    CHECK(l.slices == c.slices);
    CHECK(l.threads % 32 == 0);
    CHECK(l.threads >= l.lanes * l.slices);
    CHECK(l.threads - l.lanes * l.slices < 32);
    CHECK(l.threads <= 1024);
    CHECK(l.smem_bytes == size_t(l.slices) * size_t(c.width) * 4);
  }
  const FusionHeadForwardLaunch odd = fusion_head_forward_launch({4, 512, 196, 169}, 1);
  CHECK(odd.lanes * odd.slices == 507);
  CHECK(odd.threads == 512);
  const FusionHeadForwardLaunch odd2 = fusion_head_forward_launch({4, 512, 196, 196}, 2);
  CHECK(odd2.lanes * odd2.slices == 490);
  CHECK(odd2.threads == 512);
  const FusionHeadForwardLaunch odd3 = fusion_head_forward_launch({4, 512, 196, 196}, 1);
  CHECK(odd3.lanes * odd3.slices == 392);
  CHECK(odd3.threads == 416);
}

TEST_CASE("conv algorithm order: deterministic first, then non-deterministic, unusable ones left out",
          "[kernel_checks][conv]") {
  const size_t cap = size_t(1) << 30;
  const std::vector<ConvAlgoCandidate> listed = {
      {7, true, false, false, 0},         // 0: fastest, non-deterministic
      {1, true, true, false, 1 << 20},    // 1: deterministic
      {6, false, true, false, 0},         // 2: heuristic says it does not run
      {2, true, true, false, cap + 1},    // 3: workspace over the cap
      {5, true, true, true, 0},           // 4: tensor-op math
      {0, true, true, false, 0},          // 5: deterministic
      {3, true, false, false, 1 << 10}};  // 6: non-deterministic
  CHECK(conv_algo_try_order(listed, /*f32=*/false, cap) == std::vector<size_t>{1, 4, 5, 0, 6});
  CHECK(conv_algo_try_order(listed, /*f32=*/true, cap) == std::vector<size_t>{1, 5, 0, 6});  // no TF32
  CHECK(conv_algo_try_order(listed, false, 0) == std::vector<size_t>{4, 5, 0});
  // Only non-deterministic ones usable: they are still tried (the last resort).
  CHECK(conv_algo_try_order({{4, true, false, false, 0}}, true, cap) == std::vector<size_t>{0});
  CHECK(conv_algo_try_order({}, true, cap).empty());
}

TEST_CASE("conv run-time statuses that move on to the next algorithm", "[kernel_checks][conv]") {
  CHECK(conv_status_tries_next(3000));  // NOT_SUPPORTED
  CHECK(conv_status_tries_next(3002));  // NOT_SUPPORTED_SHAPE
  CHECK(conv_status_tries_next(3010));  // NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT
  CHECK(conv_status_tries_next(4004));  // device allocation failed
  CHECK(conv_status_tries_next(2006));  // workspace too small
  CHECK_FALSE(conv_status_tries_next(0));
  CHECK_FALSE(conv_status_tries_next(2000));  // BAD_PARAM: a bug of ours, not the algorithm's
  CHECK_FALSE(conv_status_tries_next(4000));
  CHECK_FALSE(conv_status_tries_next(5000));  // EXECUTION_FAILED
}

TEST_CASE("conv shape description names every size", "[kernel_checks][conv]") {
  Conv2dGeometry g;
  g.n = 8, g.c_in = 3, g.h = 224, g.w = 224, g.c_out = 64, g.kh = 7, g.kw = 7, g.stride = 2, g.padding = 3;
  CHECK(conv_shape_description(g, "NHWC", DType::BF16) ==
        "NHWC bf16 x[8, 3, 224, 224] w[64, 3, 7, 7] stride 2 pad 3 dilation 1 groups 1");
}
