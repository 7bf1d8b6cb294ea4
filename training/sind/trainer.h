// One SIND training run (shared/spec/sind.md §4): Adam with coupled L2 in two parameter groups
// (backbone lr/lr_ratio, head lr), WarmupCosine stepped per optimizer step over the global batch
// count with the reference's quirks (T = epochs * E, epochs + 1 loops, lr 0 at step 0), EMA 0.99 with
// its warm-up ramp, scale_shift or l1 loss over SceneSampler batches, and evaluation of the EMA
// weights with the 9-crop test procedure after every eval_cadence-th epoch. The epoch loop (data
// parallel, resume, checkpoints, logs, stops) is training/epoch_loop.h's, with run_dir as its run
// directory; the best and validation-selected EMA weights are kept beside its last.safetensors
// (training/sind/kept_weights.h).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "training/data/dataset.h"
#include "training/epoch_loop.h"  // TrainHooks
#include "training/sind/config.h"

namespace iqa::training {

struct NamedList {
  std::string name;
  DatasetList list;
};

struct TrainData {
  DatasetList train;
  std::vector<NamedList> tests;  // evaluated every eval_every epochs; the reference selects on these
  std::vector<NamedList> vals;   // held-out validation (random-split), matched to tests by name
};

struct EvalPoint {
  int epoch = -1;
  double srcc = 0, plcc = 0;
  double mean_scene_srcc = 0;  // mean of per-scene SRCCs (NaN with one scene)
  int64_t count = 0;
};

struct SetResult {
  std::string name;
  std::vector<EvalPoint> history;
  std::vector<EvalPoint> val_history;  // empty without a validation split
  EvalPoint best_on_test() const;      // the reference's selection (optimistic): best test SRCC
  EvalPoint best_on_val() const;       // the validation point with the best SRCC (epoch -1 if none)
  EvalPoint val_selected() const;      // test values at the epoch of the best validation SRCC (epoch -1 if none)
  EvalPoint last() const;
};

struct RunResult {
  std::vector<SetResult> sets;
  std::vector<std::pair<int, double>> epoch_loss;  // mean training loss per finished epoch
  int64_t steps = 0;
  bool interrupted = false;  // stopped by a signal (or the test hook); the checkpoint lets it resume
  std::string to_json() const;
  static RunResult from_json(const std::string& text);
};

// Epochs between evaluations: cfg.eval_every, or when it is 0 the reference's cadence: every epoch for
// cross-set, every 5 for leave-one-out and random-split (epochs 0, 5, ..., 35). The final pass also
// computes the calibration statistics of last.safetensors.
int eval_cadence(const SindConfig& cfg);

// Trains from cfg (cfg.resume: a checkpoint path, or "auto" for run_dir/checkpoints/last.safetensors
// when it exists) and returns every evaluation. A non-finite loss throws iqa::Error naming the step,
// leaving the last good checkpoint in place; a stop request writes a checkpoint and returns with
// interrupted = true.
RunResult train_sind(const SindConfig& cfg, const TrainData& data, const std::string& run_dir,
                     const TrainHooks& hooks = {});

// --dataset_domain: domain ids become dataset ids (domain_id / 100); keep_spaq_scenes keeps SPAQ's
// scene ids (cross-set, "because SPAQ has scene labels").
DatasetList to_dataset_domains(DatasetList list, bool keep_spaq_scenes);

}  // namespace iqa::training
