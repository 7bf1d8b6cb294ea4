// The training loop the three dsmix-train stages share, built from sind-train's pieces: device choice,
// communicator + GradientSynchronizer (world size 1 takes the same path), train.log / metrics.jsonl /
// progress bar (run_log.h), atomic checkpoints with bit-exact resume (checkpoint.h), curves.svg, the
// non-finite-loss stop naming the step, and SIGINT/SIGTERM checkpointing. A stage supplies its
// batches, its loss and its held-out evaluation; the loop does the rest.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/comm.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "training/dsmix/config.h"
#include "training/data/loader.h"
#include "training/run_log.h"
#include "training/sind/trainer.h"  // TrainHooks

namespace iqa::training {

// The process's device and communicator, opened once per dsmix-train invocation (lp reuses it for its
// splits), and the current run directory's log.
struct StageEnv {
  DsmixConfig cfg;  // resolved
  Device device = kCPU;
  std::unique_ptr<dist::Communicator> comm;
  int rank = 0, world = 1;
  bool main_rank = true;
  std::string run_dir, ckpt_path;  // <run_dir>/checkpoints/last.safetensors
  std::unique_ptr<RunLog> log;
  bool autocast() const { return device.is_cuda() && cfg.precision == "bf16"; }
  // Points the log and the checkpoint path at another run directory (lp's splits).
  void open_run(const std::string& dir);
};
StageEnv open_stage_env(const DsmixConfig& resolved_cfg, const std::string& run_dir);

// What an evaluation after an epoch reports.
struct EpochEval {
  nlohmann::json fields = nlohmann::json::object();  // logged as {"type": "eval", "epoch": e, ...fields}
  std::string line;                                   // appended to the epoch's train.log line
  std::vector<std::pair<std::string, double>> plotted;  // series on curves.svg's 0..1 axis
};

struct StageHistory {
  std::vector<std::pair<int, double>> epoch_loss;  // mean training loss per finished epoch
  std::vector<nlohmann::json> evals;               // {"epoch": e, ...fields} per evaluation
  std::map<std::string, std::vector<std::pair<double, double>>> plotted;
  std::string to_json() const;
  static StageHistory from_json(const std::string& text);
  // The latest evaluation's value of `key` (NaN when there is none).
  double last_eval(const std::string& key) const;
};

struct EpochLoop {
  std::string title;                 // curves.svg's title
  Module* model = nullptr;           // checkpointed whole (frozen parts included)
  Optimizer* optimizer = nullptr;
  std::vector<Tensor> params;        // the trained parameters (gradients averaged over ranks)
  Loader* loader = nullptr;
  int64_t batches_per_epoch = 0;     // this rank's
  std::function<std::vector<SampledBatch>(int epoch)> epoch_batches;
  // Sets the learning rate before the step (step counts optimizer steps from 0).
  std::function<void(int epoch, int64_t step)> schedule;
  // The batch's scalar loss (forward only; the loop checks it, then runs backward and the update).
  std::function<Tensor(const Batch& batch, int64_t step)> loss;
  // Held-out evaluation after epoch e when (e + 1) % eval_every == 0 and after the last epoch.
  std::function<EpochEval(int epoch)> evaluate;
};

struct LoopResult {
  StageHistory history;
  int64_t steps = 0;
  bool interrupted = false;
};

// Epochs 0 .. cfg.epochs - 1. Resumes from cfg.resume ("auto": the run's last.safetensors if present;
// a checkpoint of another stage is an error). A non-finite loss throws iqa::Error naming the step and
// keeps the last good checkpoint; a stop request checkpoints and returns interrupted.
LoopResult run_epoch_loop(StageEnv& env, EpochLoop& loop, const TrainHooks& hooks);

// Writes <run_dir>/config.json (the resolved configuration) on the main rank.
void write_config_json(const StageEnv& env);

}  // namespace iqa::training
