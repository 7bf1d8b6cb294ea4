// SIND's test-time procedure (shared/spec/sind.md §5.1): each image is decoded once, its 9 global
// NineCrop views and 9 local views (NineCropMiniPatch mosaic, or the same crops in same-crop mode) are
// rendered, global view i is paired with local view i, and the prediction is the mean of the 9 scores.
// A single-view mode scores the centre pair only. Used by the trainer and by tools/sind-score.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "models/sind.h"
#include "training/data/dataset.h"
#include "training/choice.h"
#include "training/data/loader.h"

namespace iqa::training {

struct EvalOptions {
  std::string data_root;
  int resize = 256;                  // global squash size (NineCrop offsets {0, mid, max} of it)
  LocalViewMode local_view = LocalViewMode::Mosaic;
  bool nine_crop = true;             // false: the centre pair (view 4 of both orders) only
  int images_per_batch = 8;          // images decoded and scored together
  BadImagePolicy bad_image = BadImagePolicy::Fail;
  DecodeMode decode = DecodeMode::Exact;  // as the training loader's --decode
  std::string cache_dir;             // the training loader's view cache (empty = off): views cut from it
  Device device = kCPU;
  Precision precision = Precision::FP32;  // bf16 / fp16: autocast on CUDA
  int rank = 0, world_size = 1;      // entries i with i % world_size == rank are scored here
  std::function<void(int64_t done, int64_t total)> progress;  // after each chunk (optional)
  bool stop_on_signal = false;       // throw EvaluationInterrupted before a chunk once stop_requested()
};

struct Predictions {
  std::vector<int64_t> index;        // dataset entries scored, increasing
  std::vector<double> pred;          // model output (mean over the views)
  std::vector<std::string> skipped;  // "path: reason" of images skipped under BadImagePolicy::Skip
};

// Scores the entries of `list` (model in eval mode, no autograd; the caller picks the weights, e.g.
// inside an EMA scope). Fail policy: the first undecodable image throws naming the file.
Predictions predict_dataset(models::QualityModel& model, const DatasetList& list, const EvalOptions& opts);

}  // namespace iqa::training
