// The epoch loop's device prefetch (issue 16): the tensors each step reads through the prefetcher,
// one batch ahead, are those of the batch the loader produced for that step, in order, across epochs
// and after a mid-epoch stop (the batch fetched ahead is dropped, the resumed run starts clean). On
// the CPU the prefetcher passes tensors through; the same loop code runs on CUDA.
#include <filesystem>
#include <unistd.h>

#include "engine/comm.h"
#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "tests/cpu_loop.h"
#include "tests/testing.h"
#include "training/epoch_loop.h"

using namespace iqa;
using namespace iqa::training;

namespace {

constexpr int64_t kItems = 12;

// Sample values depend on the item and the augmentation key, so a batch from the wrong step or the
// wrong epoch differs.
Loader make_loader() {
  LoaderOptions o;
  o.workers = 2;
  o.seed = 5;
  o.pinned = false;
  return Loader(kItems, {4}, [](int64_t index, uint64_t key, float* const* planes) {
    for (int j = 0; j < 4; ++j) planes[0][j] = float(index * 10 + j) + float(key % 97) / 100.0f;
  }, o);
}

std::vector<SampledBatch> epoch_batches(int epoch) {
  std::vector<SampledBatch> b;
  for (int k = 0; k < 3; ++k) {
    SampledBatch s{k, {}};
    for (int j = 0; j < 4; ++j) s.indices.push_back((epoch * 5 + k * 4 + j) % kItems);
    b.push_back(s);
  }
  return b;
}

struct Seen {
  std::vector<std::vector<float>> inputs;  // what each step read from batch.device_inputs
  std::vector<std::vector<double>> ids;
};

// Runs the loop over `passes` epochs (stopping after step stop_after if >= 0) and records each step's inputs.
Seen run(const std::string& dir, int passes, int stop_after) {
  Loader loader = make_loader();
  Linear model(4, 1);
  SGD opt({ParamGroup{model.parameters(), 0.01}});
  RunLog log("", false);
  auto comm = dist::detail::create_local_communicator(kCPU);
  std::vector<std::pair<int, double>> epoch_loss;
  Seen seen;
  EpochLoop loop = iqa::testing::cpu_loop("prefetch test", dir, log, *comm, model, opt);
  loop.passes = passes;
  loop.batches_per_epoch = 3;
  loop.loader = &loader;
  loop.epoch_batches = epoch_batches;
  loop.epoch_loss = &epoch_loss;
  loop.device = kCPU;
  loop.device_inputs = [](const Batch& b) {
    std::vector<double> idx(b.indices.begin(), b.indices.end());
    return std::vector<Tensor>{b.plane_tensor(0, {4}), Tensor::from_vector_f64(idx, {int64_t(idx.size())})};
  };
  loop.loss = [&](const Batch& b, int64_t) {
    REQUIRE(b.device_inputs.size() == 2);
    // The prefetched tensors are the batch's own contents.
    REQUIRE(b.device_inputs[0].to_vector() == b.plane_tensor(0, {4}).to_vector());
    seen.inputs.push_back(b.device_inputs[0].to_vector());
    seen.ids.push_back(b.device_inputs[1].to_vector_f64());
    return mse_loss(model.forward(b.device_inputs[0]), Tensor::zeros({b.size, 1}));
  };
  TrainHooks hooks;
  hooks.progress = false;
  hooks.stop_after_step = stop_after;
  run_epoch_loop(loop, hooks);
  return seen;
}

}  // namespace

TEST_CASE("Epoch loop prefetch: each step reads the loader's batch for that step, also after a resume",
          "[prefetch][train]") {
  // What the loader produces, read directly.
  std::vector<std::vector<float>> want;
  {
    Loader loader = make_loader();
    for (int epoch = 0; epoch < 2; ++epoch) {
      loader.start_epoch(uint64_t(epoch), epoch_batches(epoch));
      while (auto b = loader.next()) want.push_back(b->plane_tensor(0, {4}).to_vector());
    }
  }
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("iqa_test_prefetch_" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  const Seen whole = run(dir, 2, -1);
  CHECK(whole.inputs == want);
  REQUIRE(whole.ids.size() == 6);
  CHECK(whole.ids[4] == std::vector<double>{9, 10, 11, 0});  // epoch 1, batch 1: (5 + 4 + j) % 12
  // Stopped after step 2 (batch 3 was already fetched ahead), then resumed from the checkpoint.
  std::filesystem::remove_all(dir);
  const Seen first = run(dir, 2, 2), rest = run(dir, 2, -1);
  std::vector<std::vector<float>> joined = first.inputs;
  joined.insert(joined.end(), rest.inputs.begin(), rest.inputs.end());
  CHECK(joined == want);
  std::filesystem::remove_all(dir);
}
