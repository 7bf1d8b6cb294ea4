// The training steps' host reads (issue 16), counted by engine/host_reads.h on the CPU: sind-train's
// step and DSMix stages 1 (dsm) and 2 (qep without mixing, which needs no maps on the host) read
// nothing but the losses, once per log_every steps; and the DSMix stages take their batches through
// the epoch loop's device prefetcher, each step seeing the batch the loader produced for it.
#include <cmath>

#include "engine/host_reads.h"
#include "tests/dsmix/tiny_stage.h"
#include "tests/sind/tiny_run.h"
#include "tests/testing.h"
#include "training/dsmix/trainer.h"

using namespace iqa;
using namespace iqa::training;
namespace dsmix_stage = iqa::testing::dsmix_tiny;

namespace {

// Records host_reads() as each step's loss reaches the loop.
struct ReadTrace {
  std::vector<int64_t> at_step;
  TrainHooks hooks(TrainHooks h) {
    h.on_loss = [this](int64_t, Tensor&) { at_step.push_back(host_reads()); };
    return h;
  }
  // The reads from one step's loss to the next one's in the same epoch (each holding one backward,
  // update, EMA, schedule, forward and, at a step record, the loss read); the epoch's end, its
  // evaluation and checkpoint lie between epochs and are not counted.
  int64_t within_epochs(int64_t batches_per_epoch) const {
    int64_t n = 0;
    for (size_t s = 1; s < at_step.size(); ++s)
      if (int64_t(s) % batches_per_epoch != 0) n += at_step[s] - at_step[s - 1];
    return n;
  }
};

// At most one read per log_every steps (the loss reads at the step records).
void require_deferred_reads(const ReadTrace& trace, int64_t steps, int64_t epochs, int log_every) {
  REQUIRE(int64_t(trace.at_step.size()) == steps);
  REQUIRE(steps % epochs == 0);
  const int64_t reads = trace.within_epochs(steps / epochs);
  INFO(steps << " steps in " << epochs << " epochs, log_every " << log_every << ": " << reads
              << " host reads inside the epochs (reading every step: " << steps - epochs << ")");
  CHECK(reads <= steps / log_every);
  CHECK(reads >= 1);  // the step records do read
}

}  // namespace

TEST_CASE("sind-train's step reads the host once per log_every steps", "[host_reads][train]") {
  SindConfig c = tiny_run::tiny_config(tiny_run::fresh_dir("iqa_reads_sind"));
  c.log_every = 4;
  ReadTrace trace;
  const RunResult r = train_sind(c, tiny_run::tiny_data(), c.project_dir, trace.hooks(tiny_run::quiet()));
  require_deferred_reads(trace, r.steps, int64_t(r.epoch_loss.size()), c.log_every);
}

TEST_CASE("DSMix stages 1 and 2 read the host once per log_every steps", "[host_reads][dsmix]") {
  for (DsmixStage stage : {DsmixStage::DSM, DsmixStage::QEP}) {
    INFO(choice_name(stage));
    DsmixConfig c = dsmix_stage::tiny_config(stage, dsmix_stage::fresh_dir(std::string("reads_") + choice_name(stage)));
    c.log_every = 3;
    c.mix = 1;  // qep: no sensitivity maps, whose boxes are drawn on the host
    ReadTrace trace;
    const StageResult r = run_dsmix_stage(c, trace.hooks(dsmix_stage::quiet()));
    require_deferred_reads(trace, int64_t(trace.at_step.size()), int64_t(r.history.epoch_loss.size()), c.log_every);
  }
}

TEST_CASE("DSMix stages 1 and 2: each step's device inputs are its own batch's planes", "[prefetch][dsmix]") {
  for (DsmixStage stage : {DsmixStage::DSM, DsmixStage::QEP}) {
    INFO(choice_name(stage));
    DsmixConfig c = dsmix_stage::tiny_config(stage, dsmix_stage::fresh_dir(std::string("prefetch_") + choice_name(stage)));
    c.mix = 1;
    const int64_t crop = c.crop, grid = crop / 8;
    const bool dsm = stage == DsmixStage::DSM;
    TrainHooks h = dsmix_stage::quiet();
    std::vector<int64_t> numbers;
    h.on_batch = [&](int64_t, const Batch& b) {
      REQUIRE(b.device_inputs.size() == (dsm ? 2u : 1u));
      CHECK(b.device_inputs[0].shape() == Shape{b.size, 3, crop, crop});
      CHECK(b.device_inputs[0].to_vector() == b.plane_tensor(0, {3, crop, crop}).to_vector());
      if (dsm) CHECK(b.device_inputs[1].to_vector() == b.plane_tensor(1, {1, grid, grid}).to_vector());
      numbers.push_back(b.number);
    };
    const StageResult r = run_dsmix_stage(c, h);
    // Every epoch's batches in the sampler's order: 0, 1, ... per epoch.
    const size_t epochs = r.history.epoch_loss.size();
    REQUIRE(epochs == size_t(c.epochs));
    REQUIRE(numbers.size() % epochs == 0);
    for (size_t i = 0; i < numbers.size(); ++i) CHECK(numbers[i] == int64_t(i % (numbers.size() / epochs)));
  }
}
