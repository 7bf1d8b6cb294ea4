// A stop that lands at an epoch's end (training/epoch_loop.cpp): during the evaluation (the evaluation
// throws EvaluationInterrupted) or right after the epoch's last step. Either way the loop saves the run
// as it stood after that step, with the epoch's end not yet recorded, and --resume auto writes the
// epoch record and runs the evaluation then: the final checkpoint and metrics.jsonl are byte-identical
// to an uninterrupted run's, and no record is written twice.
#include <filesystem>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/comm.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "tests/cpu_loop.h"
#include "tests/testing.h"
#include "training/epoch_loop.h"
#include "training/run_log.h"

using namespace iqa;
using namespace iqa::training;
using iqa::testing::read_text;

namespace {

constexpr int kBatches = 4;  // per epoch
constexpr int kPasses = 3;

struct StopRun {
  bool stopped = false;
  int evaluations = 0;  // calls of the evaluation that returned
};

// Trains (or resumes) the run in `dir`. interrupt_epoch >= 0: that epoch's evaluation is interrupted
// once, after it has drawn from the default generator (as a stochastic evaluation would).
StopRun run(const std::string& dir, int interrupt_epoch, int stop_after_step) {
  manual_seed(11);
  Linear model(3, 1);
  SGD opt({ParamGroup{model.parameters(), 0.05}});
  LoaderOptions lo;
  lo.workers = 1;
  lo.pinned = false;
  Loader loader(16, {3, 1}, [](int64_t i, uint64_t key, float* const* p) {
    for (int j = 0; j < 3; ++j) p[0][j] = std::cos(float(i * 3 + j) + float(key % 5));
    p[1][0] = float(i % 4) * 0.5f;
  }, lo);
  RunLog log(dir, true, false);
  auto comm = dist::detail::create_local_communicator(kCPU);
  EpochLoop loop = iqa::testing::cpu_loop("stop test", dir, log, *comm, model, opt);
  loop.passes = kPasses;
  loop.batches_per_epoch = kBatches;
  loop.log_every = 3;
  loop.loader = &loader;
  loop.epoch_batches = [](int epoch) {
    std::vector<SampledBatch> b;
    for (int k = 0; k < kBatches; ++k) b.push_back(SampledBatch{k, {(epoch * 5 + k) % 16, (k * 7 + 3) % 16}});
    return b;
  };
  std::vector<std::pair<int, double>> epoch_loss;
  std::vector<double> scores;  // the history the checkpoint keeps: one score per evaluation
  loop.epoch_loss = &epoch_loss;
  loop.loss = [&](const Batch& b, int64_t) {
    return mse_loss(model.forward(b.plane_tensor(0, {3})), b.plane_tensor(1, {1}));
  };
  StopRun out;
  bool interrupted_once = false;
  loop.evaluate = [&](int epoch) -> std::optional<EpochEvaluation> {
    // The score depends on the weights and on the generator, so a wrong restore of either shows.
    const double noise = double(default_generator().take(3) % 97);
    if (epoch == interrupt_epoch && !interrupted_once) {
      interrupted_once = true;
      throw EvaluationInterrupted();
    }
    const double score = model.parameters()[0].to_vector()[0] + noise;
    scores.push_back(score);
    ++out.evaluations;
    return EpochEvaluation{{nlohmann::json{{"set", "toy"}, {"score", score}}}, "score " + std::to_string(score)};
  };
  loop.history_json = [&](int64_t) { return nlohmann::json{{"loss", epoch_loss}, {"scores", scores}}.dump(); };
  loop.restore_history = [&](const std::string& s) {
    const nlohmann::json j = nlohmann::json::parse(s);
    epoch_loss = j.at("loss").get<std::vector<std::pair<int, double>>>();
    scores = j.at("scores").get<std::vector<double>>();
  };
  TrainHooks hooks;
  hooks.progress = false;
  hooks.stop_after_step = stop_after_step;
  out.stopped = run_epoch_loop(loop, hooks).interrupted;
  return out;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = (std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  return dir;
}

std::string checkpoint_bytes(const std::string& dir) { return read_text(dir + "/checkpoints/last.safetensors"); }

}  // namespace

TEST_CASE("epoch loop: a stop during the evaluation or after an epoch's last step resumes to the same run",
          "[train][resume]") {
  const std::string ref = fresh_dir("iqa_stop_ref_");
  const StopRun whole = run(ref, -1, -1);
  REQUIRE_FALSE(whole.stopped);
  REQUIRE(whole.evaluations == kPasses);
  const std::string want_ckpt = checkpoint_bytes(ref), want_metrics = read_text(ref + "/metrics.jsonl");

  SECTION("SIGTERM during epoch 1's evaluation") {
    const std::string dir = fresh_dir("iqa_stop_eval_");
    const StopRun first = run(dir, 1, -1);
    CHECK(first.stopped);
    CHECK(first.evaluations == 1);  // epoch 0's; epoch 1's was interrupted and left no record
    const std::string metrics = read_text(dir + "/metrics.jsonl");
    size_t epoch_records = 0;  // epoch 0's only: epoch 1's end is not recorded yet
    for (size_t at = metrics.find("\"type\":\"epoch\""); at != std::string::npos; at = metrics.find("\"type\":\"epoch\"", at + 1))
      ++epoch_records;
    CHECK(epoch_records == 1);
    CHECK_THAT(read_text(dir + "/train.log"), Catch::Contains("stopped during the evaluation after epoch 1"));
    const StopRun rest = run(dir, -1, -1);
    CHECK_FALSE(rest.stopped);
    CHECK(rest.evaluations == 2);  // epoch 1's again, then epoch 2's
    CHECK(read_text(dir + "/metrics.jsonl") == want_metrics);
    CHECK(checkpoint_bytes(dir) == want_ckpt);
    std::filesystem::remove_all(dir);
  }
  SECTION("a stop right after epoch 0's last step") {
    const std::string dir = fresh_dir("iqa_stop_last_step_");
    const StopRun first = run(dir, -1, kBatches);
    CHECK(first.stopped);
    CHECK(first.evaluations == 0);
    const StopRun rest = run(dir, -1, -1);
    CHECK(rest.evaluations == kPasses);  // epoch 0's evaluation was not skipped
    CHECK(read_text(dir + "/metrics.jsonl") == want_metrics);
    CHECK(checkpoint_bytes(dir) == want_ckpt);
    std::filesystem::remove_all(dir);
  }
  std::filesystem::remove_all(ref);
}
