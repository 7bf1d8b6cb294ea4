// The three evaluation protocols of SIND (shared/spec/sind.md §5.4) over the listings tools/make-splits
// writes under --json_root:
//   leave-one-out  for_leave_one_out/<ds>/test_for_<id>_<name>/{train,test}.json: one fresh model per
//                  fold; per-fold values, their mean and median.
//   cross-set      train on for_cross_set/train/<ds>_train.json (several datasets concatenated), test on
//                  every --test_dataset (for_cross_set/test/<ds>[_test].json, else all/<ds>_all.json): the
//                  reference's tree; iqa.cu's older cross_set/<ds>/{train,test}.json and all/<ds>.json also work.
//   random-split   random_split/<ds>/<i>/{train,val,test}.json for i = 1..--splits; medians over splits;
//                  the val split gives the honest (validation-selected) numbers; a split without val.json
//                  (EVA's) runs without validation, as in the reference.
// A --train_dataset / --test_dataset ending in .json is taken as a listing path instead.
// Every run reports the reference's selection (best test epoch, labelled as such) beside the honest one.
#pragma once
#include <string>
#include <vector>

#include "training/sind/config.h"
#include "training/sind/trainer.h"

namespace iqa::training {

struct ProtocolRun {
  std::string name;  // fold / split name; its run directory is <project_dir>/<name> ("" = project_dir)
  TrainData data;
};

// The runs a configuration asks for, with listings read and --dataset_domain applied (to the training
// sets of cross-set and random-split only: leave-one-out ignores it, as the reference does).
std::vector<ProtocolRun> plan_protocol(const SindConfig& cfg);

struct ProtocolSummary {
  std::vector<std::string> lines;  // the printed table
  std::vector<std::pair<std::string, RunResult>> results;  // per run name
  bool interrupted = false;
};

// Validates every listed image of every run first (all problems in one error), writes config.json,
// trains each run (runs whose result.json exists are reused when resuming), then prints and writes
// summary.txt / summary.json.
ProtocolSummary run_protocol(const SindConfig& cfg, const std::vector<ProtocolRun>& runs, const TrainHooks& hooks = {});

}  // namespace iqa::training
