// The epoch loop both trainers run (sind-train's train_sind and dsmix-train's three stages): resume
// from a checkpoint (bit-exact, mid-epoch included), the optimizer step with gradients averaged over
// ranks (engine/comm.h; world size 1 takes the same path), the non-finite-loss stop naming the step,
// SIGINT/SIGTERM and test stops that checkpoint and return, the progress line, metrics.jsonl's step,
// epoch and eval records, train.log's epoch line, checkpoints/last.safetensors (atomically) and
// curves.svg after every epoch. A client supplies its batches, its loss, its evaluation and its
// history (what the checkpoint keeps of the results so far); the loop does the rest.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/amp.h"
#include "engine/comm.h"
#include "engine/ema.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "training/choice.h"
#include "training/data/loader.h"
#include "training/plot_svg.h"
#include "training/run_log.h"

namespace iqa::training {

struct TrainHooks {
  std::function<void(int64_t step, Tensor& loss)> on_loss;  // may replace the loss (tests inject NaN)
  std::function<void(int64_t step, const Batch& batch)> on_batch;  // sees each step's batch first (tests)
  int stop_after_epoch = -1;  // behave as if SIGINT arrived right after this epoch (tests)
  int stop_after_step = -1;   // ... or right after this optimizer step (tests, mid-epoch resume)
  int stop_in_evaluation = -1;  // ... or as this epoch's evaluation starts: it ends at its first check (tests)
  bool progress = true;       // progress bar / lines on stderr
};

// --device: the CPU, or this process's GPU (local_rank modulo the GPUs present). "cuda" without a
// usable GPU is an error naming the tool.
Device pick_training_device(DeviceChoice choice, int local_rank, const std::string& tool);

// What the evaluation after an epoch reports.
struct EpochEvaluation {
  std::vector<nlohmann::json> records;  // each logged as {"type": "eval", "epoch": e, ...record}
  std::string line;                     // appended to the epoch's train.log line
};

struct EpochLoop {
  // ---- where it runs and writes ------------------------------------------------------------------
  std::string tool;            // names the run in errors: "sind-train", "dsmix-train dsm"
  std::string progress_label;  // the progress line's "<label> <epoch>"
  std::string run_dir;         // curves.svg and checkpoints/last.safetensors go here
  RunLog* log = nullptr;
  dist::Communicator* comm = nullptr;
  std::string resume;          // a checkpoint path, "auto" (the run's last.safetensors if present) or empty
  std::map<std::string, std::string> config;  // the run's configuration, stored in every checkpoint
  int log_every = 10;          // optimizer steps between metrics.jsonl step records (and loss reads)
  int loss_decimals = 4;       // of the mean loss on train.log's epoch line

  // ---- what is trained and checkpointed ------------------------------------------------------------
  Module* model = nullptr;     // checkpointed whole (frozen parts included)
  Optimizer* optimizer = nullptr;
  ExponentialMovingAverage* ema = nullptr;  // optional: updated after every step
  amp::GradScaler* scaler = nullptr;        // optional: scales the loss, unscales and steps
  std::vector<Tensor> params;  // the trained parameters (gradients averaged over ranks)
  int logged_lr_group = 0;     // the parameter group whose lr is logged

  // ---- the data ------------------------------------------------------------------------------------
  int passes = 0;              // epochs 0 .. passes - 1
  int64_t batches_per_epoch = 0;  // this rank's
  Loader* loader = nullptr;
  std::function<std::vector<SampledBatch>(int epoch)> epoch_batches;
  // Sets the learning rate before the step (step counts optimizer steps from 0). Optional.
  std::function<void(int epoch, int64_t step)> schedule;
  // The batch's host tensors the step reads on `device` (optional). When given, batches go through a
  // DevicePrefetcher (engine/device_prefetch.h) one batch ahead: the loop pops batch k, pushes k + 1,
  // then runs step k, so on CUDA the copy of k + 1 overlaps step k; on the CPU it is a pass-through
  // (the same tensors, so the numbers are those of reading the batch directly). The loss finds them
  // in batch.device_inputs, in this function's order.
  Device device = kCPU;
  std::function<std::vector<Tensor>(const Batch& batch)> device_inputs;
  // The batch's scalar loss (forward only; the loop runs backward and the update, and reads the loss
  // later, with those of the steps since the last read: one host copy per log_every steps).
  std::function<Tensor(const Batch& batch, int64_t step)> loss;

  // ---- results -------------------------------------------------------------------------------------
  std::vector<std::pair<int, double>>* epoch_loss = nullptr;  // the client's record, appended per epoch
  // After each epoch (model in train mode): an evaluation, or nullopt when none is due. Optional.
  std::function<std::optional<EpochEvaluation>(int epoch)> evaluate;
  // The client's results as text for a checkpoint (step: optimizer steps so far), and back on resume.
  std::function<std::string(int64_t step)> history_json;
  std::function<void(const std::string& json)> restore_history;
  // Called with a resume checkpoint's stored config before anything is loaded (optional): throws
  // when the checkpoint belongs to another kind of run.
  std::function<void(const std::string& path, const std::map<std::string, std::string>& stored)> check_checkpoint;
  std::string plot_title;
  std::function<std::vector<PlotSeries>()> plot_series;  // curves.svg's 0..1 series (optional)
};

struct LoopOutcome {
  int64_t steps = 0;
  bool interrupted = false;  // stopped by a signal or a test hook; the checkpoint lets it resume
};

// Runs the remaining epochs. A non-finite loss throws iqa::Error naming the step (when its loss is read:
// at the next step record, epoch end or save, so no later weights are saved) and keeps the last good
// checkpoint; a stop request writes a checkpoint and returns interrupted.
LoopOutcome run_epoch_loop(EpochLoop& loop, const TrainHooks& hooks);

}  // namespace iqa::training
