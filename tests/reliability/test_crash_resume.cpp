// Crash consistency: sind-train, SIGKILLed (IQA_KILL_AT, engine/fault_point.h) at thirteen points in turn
// (mid-epoch, around evaluation, inside and just after each checkpoint write) and resumed with
// --resume auto after each, ends with a checkpoint file and a metrics.jsonl byte-identical to an
// uninterrupted run's; after every kill the checkpoint in place, if any, loads and holds the expected
// step, so no half-written copy is ever found under its name.
#include <csignal>
#include <filesystem>
#include <set>

#include "tests/reliability/tiny_run.h"
#include "tests/testing.h"
#include "training/checkpoint.h"

using namespace iqa;
using namespace iqa::testing;
namespace fs = std::filesystem;

namespace {

struct KillPoint {
  std::string at;           // IQA_KILL_AT
  int64_t checkpoint_step;  // the step of the checkpoint in place after the kill (-1: none yet)
};

}  // namespace

TEST_CASE("crash consistency: sind-train killed at 13 points and resumed matches the uninterrupted run",
          "[reliability][train]") {
  const TinyRun tiny("iqa_test_crash");
  // The uninterrupted run, at the same path (the checkpoint's config names it), then moved aside.
  const std::string run = (tiny.root / "run").string();
  const ChildResult ref = tiny.run(tiny.args(run));
  INFO(ref.output);
  REQUIRE(ref.exit_code == 0);
  const fs::path ref_dir = tiny.root / "reference";
  fs::rename(run, ref_dir);

  const std::vector<KillPoint> points = {
      {"step:2", -1},                 // epoch 0, nothing saved yet
      {"eval_start:1", -1},           // epoch 0's evaluation about to run
      {"eval_logged:1", -1},          // its records in metrics.jsonl, no checkpoint
      {"safetensors_write:1", -1},    // epoch 0's best.safetensors (written first): header only in its temporary file
      {"safetensors_write:4", -1},    // ... part of its tensors
      {"safetensors_renamed:1", -1},  // best.safetensors in place, last.safetensors not yet written
      {"safetensors_renamed:2", 5},   // last.safetensors in place, its directory not synced
      {"step:3", 5},                  // epoch 1, resumed from epoch 0's checkpoint
      {"eval_logged:1", 5},           // epoch 1's records written
      {"safetensors_write:6", 5},     // epoch 1's checkpoint half written
      {"step:7", 10},                 // epoch 2 (epoch 1 redone and saved first)
      {"eval_start:1", 10},           // the last evaluation
      {"safetensors_renamed:1", 15},  // the final checkpoint in place, curves.svg not yet drawn
  };
  for (const KillPoint& k : points) {
    const ChildResult r = tiny.run(tiny.args(run), k.at);
    INFO("killed at " << k.at << "\n" << r.output);
    REQUIRE(r.signal == SIGKILL);  // the point was reached
    const fs::path ckpt = find_checkpoint(run);
    if (k.checkpoint_step < 0) {
      REQUIRE(ckpt.empty());
      continue;
    }
    REQUIRE(!ckpt.empty());
    training::TrainingState st;
    REQUIRE_NOTHROW(training::load_checkpoint(ckpt.string(), st));
    CHECK(st.step == k.checkpoint_step);
  }
  const ChildResult last = tiny.run(tiny.args(run));
  INFO(last.output);
  REQUIRE(last.exit_code == 0);

  const fs::path ckpt = find_checkpoint(run), metrics = ckpt.parent_path().parent_path() / "metrics.jsonl";
  CHECK(file_bytes(ckpt) == file_bytes(ref_dir / fs::relative(ckpt, run)));
  const std::string want = file_bytes(ref_dir / fs::relative(metrics, run));
  CHECK(want.size() > 1000);
  CHECK(file_bytes(metrics) == want);
  // The kept best weights match too, and the temporary copies the killed writes left behind were
  // removed by the next save: only the two final names remain.
  const fs::path best = ckpt.parent_path() / "best.safetensors";
  CHECK(file_bytes(best) == file_bytes(ref_dir / fs::relative(best, run)));
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(ckpt.parent_path())) names.insert(e.path().filename().string());
  CHECK(names == std::set<std::string>{"best.safetensors", "last.safetensors"});
}
