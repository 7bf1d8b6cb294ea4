// What the three dsmix-train stages share around training/epoch_loop.h: the process's device and
// communicator, the run directory's log, the stage's history as its checkpoints keep it, and the
// stage loop (a stage supplies its batches, its loss and its held-out evaluation; the epoch loop does
// the rest).
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
#include "training/epoch_loop.h"

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
  bool autocast() const { return device.is_cuda() && cfg.precision == Precision::BF16; }
  // Points the log and the checkpoint path at another run directory (lp's splits).
  void open_run(const std::string& dir);
};
// Resolves and validates cfg for `stage`, opens the device and communicator, points the log at
// cfg.project_dir and writes its config.json (main rank).
StageEnv open_stage(const DsmixConfig& cfg, DsmixStage stage);

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
  nlohmann::json running = nlohmann::json::object();  // the stage's RunningSums as last saved
  std::string to_json() const;
  static StageHistory from_json(const std::string& text);
  // The latest evaluation's value of `key` (NaN when there is none).
  double last_eval(const std::string& key) const;
};

// Training-side sums a stage keeps between two evaluations and logs with the next one (stage 2's
// loss terms, stage 1's ground-truth mean): saved with every checkpoint's history and restored on
// resume, so a run stopped mid-epoch or during an evaluation logs what an uninterrupted one does.
struct RunningSums {
  std::function<nlohmann::json()> save;
  std::function<void(const nlohmann::json&)> restore;  // an empty object: a fresh run or an old checkpoint
};

struct StageResult {
  StageHistory history;               // lp: the last split's
  std::map<std::string, double> metrics;  // dsm: map_mse, map_mae, mean_map_mse (predicting the
                                          //   training maps' mean value everywhere);
                                          // qep: type_acc, level_acc, joint_acc;
                                          // lp: median_srcc, median_plcc (and srcc_<i>, plcc_<i> per split)
  std::vector<std::string> lines;     // the summary printed at the end
  bool interrupted = false;
};

// Runs epochs 0 .. cfg.epochs - 1 of `loop` (the stage fills in the model, optimizer, params, loader,
// batches, schedule, loss and plot_title; the rest comes from env) in env's run directory. Resumes
// from cfg.resume ("auto": the run's last.safetensors if present; a checkpoint of another stage is
// an error). `evaluate` runs after epoch e when (e + 1) % eval_every == 0 and after the last epoch;
// an empty one (nothing held out) evaluates nothing and the summary line says so.
// The result holds the history and, for each of metric_keys, its latest evaluated value; with a
// summary_format (printf of three doubles), its first line formats the three metrics in key order.
StageResult run_stage_loop(StageEnv& env, EpochLoop& loop, const std::function<EpochEval(int epoch)>& evaluate,
                           const TrainHooks& hooks, const std::vector<std::string>& metric_keys,
                           const char* summary_format = nullptr, const RunningSums& running = {});

}  // namespace iqa::training
