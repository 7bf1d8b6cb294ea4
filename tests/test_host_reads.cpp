// Host reads (issue 16): the engine counts every item()/to_vector*() and device-to-host copy
// (engine/host_reads.h, CPU tensors included), scalars are read many in one copy
// (training/deferred_scalars.h), and the epoch loop reads its losses once per log_every steps with the
// numbers of reading every step: the same epoch losses and step records, a non-finite loss still named
// by its own step, and no checkpoint written after it.
#include <cmath>
#include <filesystem>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/amp.h"
#include "engine/comm.h"
#include "engine/ema.h"
#include "engine/host_reads.h"
#include "engine/lr_schedule.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "tests/cpu_loop.h"
#include "tests/testing.h"
#include "training/checkpoint.h"
#include "training/deferred_scalars.h"
#include "training/epoch_loop.h"

using namespace iqa;
using namespace iqa::training;
using Catch::Matchers::Contains;
using iqa::testing::read_text;

TEST_CASE("host reads: item, to_vector and device copies count once each, host-side copies do not", "[host_reads]") {
  const Tensor t = Tensor::from_vector({1, 2, 3}, {3});
  int64_t before = host_reads();
  (void)t.to_vector();
  (void)t.narrow(0, 1, 1).item();
  CHECK(host_reads() - before == 2);
  before = host_reads();
  (void)t.to(kCPU).clone();
  (void)t.to(DType::F64);
  (void)add(t, 1.0);
  CHECK(host_reads() - before == 0);
}

TEST_CASE("read_scalars and DeferredSum: one read for many scalars, the sums of reading each", "[host_reads]") {
  std::vector<Tensor> xs;
  double each = 0;
  for (int i = 0; i < 7; ++i) {
    xs.push_back(Tensor::full({}, 0.1 * i + 1.0 / 3.0));
    each += xs.back().item();
  }
  xs.push_back(Tensor::full({1}, 0.7, DType::F64));  // mixed dtypes and [1] shapes are widened exactly
  const int64_t before = host_reads();
  const std::vector<double> v = read_scalars(xs);
  CHECK(host_reads() - before == 1);
  REQUIRE(v.size() == 8);
  CHECK(v[7] == 0.7);
  DeferredSum s(3);
  const int64_t start = host_reads();
  for (int i = 0; i < 7; ++i) s.add(xs[size_t(i)]);
  CHECK(host_reads() - start == 2);  // folded after 3 and 6 values
  CHECK(s.sum() == each);            // bit-identical to adding item() after every step
  CHECK(host_reads() - start == 3);
  s.reset();
  CHECK(s.sum() == 0);
  CHECK_THROWS_WITH(read_scalars({Tensor::zeros({2})}), Contains("not a one-element floating tensor"));
}

TEST_CASE("host reads: the optimizer steps, EMA, GradScaler on the CPU and the lr schedule read nothing",
          "[host_reads]") {
  manual_seed(4);
  Linear layer(6, 3);
  AdamP adamp({ParamGroup{layer.parameters(), 0.01, 0.1}});
  Adam adam({ParamGroup{layer.parameters(), 0.01}});
  ExponentialMovingAverage ema(layer.parameters());
  amp::GradScaler scaler;
  const CosineAnnealing schedule(10);
  const Tensor x = Tensor::randn({5, 6});
  const int64_t before = host_reads();
  for (int64_t step = 0; step < 3; ++step) {
    schedule.apply(adamp, step);
    adamp.zero_grad();
    scaler.scale(sum(layer.forward(x))).backward();
    scaler.step(adamp);
    scaler.update();
    adam.step();
    ema.update();
  }
  CHECK(host_reads() - before == 0);
  CHECK(std::isfinite(layer.parameters()[0].to_vector()[0]));  // the steps did run
}

namespace {

constexpr int kBatches = 5;  // per epoch
constexpr int kPasses = 3;

// A linear model fitted over kPasses epochs of kBatches batches; nothing in the loss reads the host.
struct LoopRun {
  std::vector<std::pair<int, double>> epoch_loss;
  std::vector<int64_t> reads_at_step;  // host_reads() when each step's loss is handed to the loop
  std::string metrics;                 // metrics.jsonl
};

// Resumes from dir's checkpoint when there is one.
LoopRun run_loop(const std::string& dir, int log_every, const TrainHooks& hooks) {
  manual_seed(3);
  Linear model(4, 1);
  SGD opt({ParamGroup{model.parameters(), 0.05}});
  LoaderOptions lo;
  lo.workers = 1;
  lo.pinned = false;
  Loader loader(20, {4, 1}, [](int64_t i, uint64_t key, float* const* p) {
    for (int j = 0; j < 4; ++j) p[0][j] = std::sin(float(i * 4 + j) + float(key % 7));
    p[1][0] = float(i % 3);
  }, lo);
  RunLog log(dir, true, false);
  auto comm = dist::detail::create_local_communicator(kCPU);
  LoopRun out;
  EpochLoop loop = iqa::testing::cpu_loop("host-read test", dir, log, *comm, model, opt);
  loop.log_every = log_every;
  loop.passes = kPasses;
  loop.batches_per_epoch = kBatches;
  loop.loader = &loader;
  loop.epoch_batches = [](int epoch) {
    std::vector<SampledBatch> b;
    for (int k = 0; k < kBatches; ++k) b.push_back(SampledBatch{k, {(epoch + k) % 20, (epoch * 3 + k + 7) % 20}});
    return b;
  };
  loop.epoch_loss = &out.epoch_loss;
  loop.loss = [&](const Batch& b, int64_t) {
    return mse_loss(model.forward(b.plane_tensor(0, {4})), b.plane_tensor(1, {1}));
  };
  TrainHooks h = hooks;
  h.progress = false;
  h.on_loss = [&](int64_t step, Tensor& loss) {
    out.reads_at_step.push_back(host_reads());
    if (hooks.on_loss) hooks.on_loss(step, loss);
  };
  run_epoch_loop(loop, h);
  out.metrics = read_text(dir + "/metrics.jsonl");
  return out;
}

// The reads between one step's loss and the next one's in the same epoch: the loop's per-step reads
// (an epoch's end, its evaluation and checkpoint fall between epochs and are not counted).
int64_t reads_within_epochs(const std::vector<int64_t>& reads_at_step, int64_t batches_per_epoch) {
  int64_t n = 0;
  for (size_t s = 1; s < reads_at_step.size(); ++s)
    if (int64_t(s) % batches_per_epoch != 0) n += reads_at_step[s] - reads_at_step[s - 1];
  return n;
}

std::string scratch(const std::string& name) {
  const std::string d =
      (std::filesystem::temp_directory_path() / ("iqa_host_reads_" + name + "_" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(d);
  return d;
}

}  // namespace

TEST_CASE("epoch loop: losses read once per log_every steps, with the numbers of reading every step",
          "[host_reads][train]") {
  const LoopRun every = run_loop(scratch("l1"), 1, {}), deferred = run_loop(scratch("l4"), 4, {});
  REQUIRE(deferred.reads_at_step.size() == size_t(kPasses * kBatches));
  // 15 steps: reads after steps 4, 8 and 12 inside the epochs (the epoch ends read the rest).
  CHECK(reads_within_epochs(deferred.reads_at_step, kBatches) == 3);
  CHECK(reads_within_epochs(every.reads_at_step, kBatches) == kPasses * (kBatches - 1));
  REQUIRE(every.epoch_loss.size() == size_t(kPasses));
  CHECK(deferred.epoch_loss == every.epoch_loss);  // bit-identical means
  // Every record of the deferred run is the same line in the every-step run (steps 4, 8, 12).
  std::istringstream lines(deferred.metrics);
  int steps_logged = 0;
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK(every.metrics.find(line) != std::string::npos);
    steps_logged += nlohmann::json::parse(line).at("type") == "step";
  }
  CHECK(steps_logged == 3);

  // Stopped after step 7 (between two reads), then resumed: the same losses and metrics.jsonl bytes.
  const std::string dir = scratch("stop");
  TrainHooks stop;
  stop.stop_after_step = 7;
  const LoopRun first = run_loop(dir, 4, stop), rest = run_loop(dir, 4, {});
  CHECK(first.epoch_loss.size() == 1);
  CHECK(rest.epoch_loss == std::vector<std::pair<int, double>>(every.epoch_loss.begin() + 1, every.epoch_loss.end()));
  CHECK(rest.metrics == deferred.metrics);
  for (const char* d : {"l1", "l4", "stop"}) std::filesystem::remove_all(scratch(d));
}

TEST_CASE("epoch loop: a deferred non-finite loss names its step and nothing after it is saved",
          "[host_reads][train]") {
  const std::string dir = scratch("nan");
  TrainHooks h;
  h.on_loss = [](int64_t step, Tensor& loss) {
    if (step == 6) loss = mul(loss, std::nan(""));
  };
  h.stop_after_step = 7;  // a stop (and its save) comes before the next step record, at step 8
  REQUIRE_THROWS_WITH(run_loop(dir, 4, h), Contains("non-finite loss") && Contains("at step 6 (epoch 1, batch 1)"));
  // The checkpoint is epoch 0's: the stop after step 7 read the losses first and threw.
  TrainingState st;
  load_checkpoint(dir + "/checkpoints/last.safetensors", st);
  CHECK(st.step == kBatches);
  CHECK(st.epoch == 0);
  std::filesystem::remove_all(dir);
}
