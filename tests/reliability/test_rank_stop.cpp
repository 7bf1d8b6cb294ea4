// A stop that reaches one rank only (a signal sent to one process, or landing between two ranks'
// checks): the ranks agree on it (training/epoch_loop.cpp, StopAgreement) at the next point all of
// them reach in step, so both stop at the same step, rank 0 saves, both exit 130, and the resumed
// two-rank run ends byte-identical to an uninterrupted one. Without the agreement the stopped rank
// left and the other failed in its next all-reduce.
#include <filesystem>
#include <utility>

#include "tests/reliability/tiny_run.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;
namespace fs = std::filesystem;

namespace {

// sind-train as two TCP ranks in `project_dir` (batches of 5 per rank: 5 steps an epoch); rank 1 gets
// SIGTERM the first time it passes fault point `term_at` ("" = never).
std::pair<ChildResult, ChildResult> two_ranks(const TinyRun& tiny, const std::string& project_dir,
                                              const std::string& term_at, const std::string& tag) {
  const RankProcesses p = start_ranks(tiny, 2, tiny.args(project_dir, {"--batch_size", "5"}), tag, [&](int r) {
    return std::map<std::string, std::string>{{"IQA_KILL_AT", r == 1 ? term_at : ""}, {"IQA_KILL_SIGNAL", "TERM"}};
  });
  ChildResult r0 = wait_child(p.pids[0], p.logs[0], 180);
  ChildResult r1 = wait_child(p.pids[1], p.logs[1], 60);
  return {r0, r1};
}

}  // namespace

TEST_CASE("rank stop: a SIGTERM reaching rank 1 alone stops both ranks at one step and the resumed run matches",
          "[reliability][comm][train]") {
  const TinyRun tiny("iqa_test_rank_stop");
  const std::string run = (tiny.root / "run").string();
  const auto [ref0, ref1] = two_ranks(tiny, run, "", "reference");
  INFO("reference rank 0:\n" << ref0.output << "\nrank 1:\n" << ref1.output);
  REQUIRE(ref0.exit_code == 0);
  REQUIRE(ref1.exit_code == 0);
  const fs::path ref_dir = tiny.root / "reference";
  fs::rename(run, ref_dir);

  // Rank 1 is signalled after step 1; --log_every 3 makes step 3 the next agreement point.
  const auto [cut0, cut1] = two_ranks(tiny, run, "step:1", "stopped");
  INFO("stopped rank 0:\n" << cut0.output << "\nrank 1:\n" << cut1.output);
  CHECK(cut1.exit_code == 130);
  CHECK(cut0.exit_code == 130);
  CHECK_THAT(cut0.output, Catch::Contains("stopped at step 3 (epoch 0)"));
  REQUIRE(!find_checkpoint(run).empty());

  const auto [res0, res1] = two_ranks(tiny, run, "", "resumed");
  INFO("resumed rank 0:\n" << res0.output << "\nrank 1:\n" << res1.output);
  REQUIRE(res0.exit_code == 0);
  REQUIRE(res1.exit_code == 0);
  CHECK_THAT(res0.output, Catch::Contains("at epoch 0, step 3"));
  const fs::path ckpt = find_checkpoint(run), metrics = ckpt.parent_path().parent_path() / "metrics.jsonl";
  CHECK(file_bytes(ckpt) == file_bytes(ref_dir / fs::relative(ckpt, run)));
  const std::string want = file_bytes(ref_dir / fs::relative(metrics, run));
  CHECK(want.size() > 1000);
  CHECK(file_bytes(metrics) == want);
}
