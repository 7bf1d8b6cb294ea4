// The epoch loop on two TCP ranks in threads (training/epoch_loop.cpp): a non-finite loss on one rank
// stops every rank at the same read, each naming it. The case that needs the agreement: the NaN comes
// at the last step before a read on rank 1 only, so rank 0's losses up to that read are finite (the
// NaN reaches rank 0's weights through the averaged gradients one step later). Without the agreement
// rank 1 stopped and rank 0 failed in its next all-reduce with "rank 1 closed the connection".
#include <cmath>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "engine/comm.h"
#include "engine/comm_tcp.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "tests/cpu_loop.h"
#include "tests/testing.h"
#include "training/epoch_loop.h"
#include "training/run_log.h"

using namespace iqa;
using namespace iqa::training;

namespace {

// Rank `rank` of two trains a toy regression; rank 1's loss at step `nan_step` (0-based) is made NaN.
// Returns the error the loop threw ("" if none).
std::string train_rank(int rank, int port, const std::string& dir, int64_t nan_step) {
  try {
    dist::LaunchInfo info;
    info.rank = rank;
    info.world_size = 2;
    info.local_rank = rank;
    info.master_port = port;
    info.timeout_s = 30;
    info.collective_timeout_s = 30;
    auto comm = dist::Communicator::create(info, kCPU);
    manual_seed(5);
    Linear model(3, 1);
    SGD opt({ParamGroup{model.parameters(), 0.05}});
    LoaderOptions lo;
    lo.workers = 1;
    lo.pinned = false;
    Loader loader(16, {3, 1}, [](int64_t i, uint64_t, float* const* p) {
      for (int j = 0; j < 3; ++j) p[0][j] = std::sin(float(i * 3 + j));
      p[1][0] = float(i % 4) * 0.5f;
    }, lo);
    RunLog log(dir, rank == 0, false);
    EpochLoop loop = iqa::testing::cpu_loop("ranks test", dir, log, *comm, model, opt);
    loop.passes = 2;
    loop.batches_per_epoch = 4;
    loop.log_every = 3;  // reads after steps 3 and 6 (1-based), and at each epoch's end
    loop.loader = &loader;
    loop.epoch_batches = [rank](int epoch) {
      std::vector<SampledBatch> b;
      for (int k = 0; k < 4; ++k) b.push_back(SampledBatch{k, {(epoch * 8 + k * 2 + rank) % 16}});
      return b;
    };
    std::vector<std::pair<int, double>> epoch_loss;
    loop.epoch_loss = &epoch_loss;
    loop.loss = [&](const Batch& b, int64_t) { return mse_loss(model.forward(b.plane_tensor(0, {3})), b.plane_tensor(1, {1})); };
    TrainHooks hooks;
    hooks.progress = false;
    hooks.on_loss = [&](int64_t step, Tensor& loss) {
      if (rank == 1 && step == nan_step) loss = mul(loss, std::nan(""));
    };
    run_epoch_loop(loop, hooks);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("epoch loop on 2 ranks: a non-finite loss on one rank stops both at the same read", "[comm][train]") {
  const std::string dir = (std::filesystem::temp_directory_path() / ("iqa_ranks_nan_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  const int port = dist::find_free_tcp_port();
  std::string e0, e1;
  std::thread r1([&] { e1 = train_rank(1, port, dir + "/rank1", 2); });  // step 3 (1-based): the read's last
  e0 = train_rank(0, port, dir + "/rank0", 2);
  r1.join();
  CHECK_THAT(e1, Catch::Contains("ranks test: non-finite loss (nan) at step 2 (epoch 0, batch 2); stopped"));
  CHECK_THAT(e0, Catch::Contains("ranks test: rank 1 had a non-finite loss at step 2; stopped on every rank") &&
                     Catch::Contains("(none written yet)"));
}
