// Stage 3's data (spec §9): the IQA listing --dataset names, its random 80/20 splits, the targets'
// normalisation, and the views: a random crop with a random horizontal flip for training, the five
// crops (four corners and the centre, torchvision FiveCrop) for testing. Crops are taken at the
// image's own resolution.
#pragma once
#include "training/data/view_cache.h"
#include <cstdint>
#include <string>
#include <vector>

#include "training/data/dataset.h"
#include "training/dsmix/config.h"
#include "training/data/splits.h"

namespace iqa::training {

// --dataset: a listing .json path, or a registry name read from <json_root>/all/<name>.json (what
// tools/make-splits writes).
DatasetList load_lp_listing(const DsmixConfig& cfg);

// Whether splits keep reference contents disjoint: when every entry names its reference. A registry
// dataset marked synthetic whose listing lacks references is an error (its splits would leak content).
bool lp_content_disjoint(const DatasetList& list, const std::string& dataset);

// 80/20 (train_fraction) random splits, repeated `count` times (random_splits with no validation part).
std::vector<Split> lp_splits(const DatasetList& list, bool content_disjoint, int count, uint64_t seed,
                             double train_fraction);

// The affine map from raw scores to regression targets, fitted on the training split:
//   zscore (default): (s - mean) / std;  minmax: (s - min) / (max - min);  none: s.
// Correlations are invariant to it; it keeps Smooth-L1 in its quadratic zone near the data's spread
// whatever the dataset's scale (LIVE 0-100, CSIQ 0-1). The spec leaves this unspecified.
struct ScoreNorm {
  double shift = 0, scale = 1;  // target = (s - shift) / scale
  double apply(double s) const { return (s - shift) / scale; }
};
ScoreNorm fit_score_norm(const DatasetList& train, ScoreNormMode mode);

// Training view: a random crop x crop window (position and flip drawn from `key`), ImageNet-normalised
// CHW into out (3 * crop * crop floats). Images smaller than the crop are an error naming the file.
// With `cache` (the view cache, --cache_dir) the decoded image is stored whole the first time and the
// crops are cut from it after (the same bytes).
void render_lp_train_view(const std::string& path, uint64_t key, int crop, float* out, ViewCache* cache = nullptr);
// The five test crops, each ImageNet-normalised CHW, one after the other (5 * 3 * crop * crop floats).
void render_lp_five_crops(const std::string& path, int crop, float* out, ViewCache* cache = nullptr);

}  // namespace iqa::training
