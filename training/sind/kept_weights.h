// The weights a SIND run keeps besides checkpoints/last.safetensors, and loading any of them for
// scoring. After each evaluation the EMA weights are written when they improve on:
//   checkpoints/best.safetensors      the epoch the summary's 'best-epoch' column reports (test SRCC)
//   checkpoints/val-best.safetensors  the validation-selected epoch, where a validation split exists
// (with several test sets: best.<set>.safetensors, val-best.<set>.safetensors). Each is a training
// checkpoint holding only the model (the EMA weights swapped in), with the run's config plus
//   kept = best | val-best, kept_epoch, kept_set, kept_srcc
// and, for --calibrate (tools/sind-score), the scale of the training MOS and of the weights' own
// predictions on the training set (mos_median, mos_mad, pred_median, pred_mad). last.safetensors
// carries mos_* from the start and pred_* from the end of the run (for its EMA weights).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/sind.h"
#include "training/data/dataset.h"
#include "training/sind/config.h"

namespace iqa::training {

// The scale-shift loss's statistics of a list (shared/spec/sind.md §2): shift = the lower median
// (torch.median), scale = the mean absolute deviation from it.
struct RobustScale {
  double median = 0, mad = 0;
};
RobustScale robust_scale(std::vector<double> values);

// A prediction p of the kept weights read on the training MOS scale: the inverse of the MOS's
// normalisation applied to the normalised prediction,
//   (p - pred.median) / (pred.mad + 1e-8) * (mos.mad + 1e-8) + mos.median.
struct Calibration {
  RobustScale mos, pred;
  double apply(double p) const;
};
// Stored as config entries (exact: "%.17g").
void store_mos_scale(std::map<std::string, std::string>& config, const RobustScale& mos);
void store_prediction_scale(std::map<std::string, std::string>& config, const RobustScale& pred);

// checkpoints/<kind>.safetensors, or <kind>.<set>.safetensors when the run has several test sets
// (characters other than letters, digits, '-', '_' and '.' in the set's name become '_').
std::string kept_weights_path(const std::string& run_dir, const std::string& kind, const std::string& set,
                              bool several_sets);

// Every n-th training entry so that at most `limit` remain: the images whose predictions give
// pred_median / pred_mad (a forward pass over all of a large training set would cost epochs).
DatasetList calibration_subset(const DatasetList& train, size_t limit = 1000);

// A checkpoint loaded for scoring: last.safetensors (EMA weights unless raw_weights) or a kept file
// (EMA weights only; raw_weights is an error naming the file).
struct ScoringWeights {
  std::shared_ptr<models::QualityModel> model;
  SindConfig config;            // the run's model and view settings
  std::string description;      // "best (EMA weights of epoch 5, test SRCC 0.8123 on koniq10k)"
  std::map<std::string, std::string> stored;
  // The checkpoint's calibration; throws naming the file and what is missing when it has none for
  // these weights (raw weights, or a last.safetensors of a run that did not finish).
  Calibration calibration() const;
  bool raw = false;
  std::string path;
};
ScoringWeights load_scoring_weights(const std::string& checkpoint, bool raw_weights);

}  // namespace iqa::training
