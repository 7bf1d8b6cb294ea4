#include "training/dsmix/lp_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/error.h"
#include "kernels/philox.h"
#include "training/image/augment.h"
#include "training/image/augment_plan.h"
#include "training/image/decode.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {
bool is_json_path(const std::string& s) { return s.size() > 5 && s.substr(s.size() - 5) == ".json"; }

void check_fits(const ImageU8& img, int crop, const std::string& path) {
  IQA_CHECK(img.width >= crop && img.height >= crop, path, ": ", img.width, "x", img.height, " is smaller than the ",
            crop, "x", crop, " crop");
}
}  // namespace

DatasetList load_lp_listing(const DsmixConfig& cfg) {
  std::string path = is_json_path(cfg.dataset) ? cfg.dataset : cfg.json_root + "/all/" + cfg.dataset + ".json";
  // make-splits writes the reference's name, all/<ds>_all.json (all/<ds>.json with --path_style iqa).
  if (!is_json_path(cfg.dataset) && !fs::exists(path)) path = cfg.json_root + "/all/" + cfg.dataset + "_all.json";
  IQA_CHECK(fs::exists(path), "dsmix-train lp: ", path, " does not exist (run tools/make-splits, set --json_root, or give a .json)");
  DatasetList list = read_data_json(path);
  IQA_CHECK(list.entries.size() >= 5, "dsmix-train lp: ", path, " lists ", list.entries.size(), " images; need at least 5");
  return list;
}

bool lp_content_disjoint(const DatasetList& list, const std::string& dataset) {
  const bool all_refs = std::all_of(list.entries.begin(), list.entries.end(),
                                    [](const DatasetEntry& e) { return !e.reference.empty(); });
  if (!is_json_path(dataset)) {
    const DatasetInfo& info = dataset_info(dataset);
    IQA_CHECK(!info.synthetic || all_refs, "dsmix-train lp: ", dataset,
              " is synthetic but its listing lacks 'reference' on some entries; splits must keep contents disjoint "
              "(regenerate it with tools/make-splits)");
  }
  return all_refs;
}

std::vector<Split> lp_splits(const DatasetList& list, bool content_disjoint, int count, uint64_t seed, double train_fraction) {
  return random_splits(list, content_disjoint, count, seed, train_fraction, 0.0);
}

ScoreNorm fit_score_norm(const DatasetList& train, ScoreNormMode mode) {
  IQA_CHECK(!train.entries.empty(), "fit_score_norm: empty training split");
  ScoreNorm n;
  if (mode == ScoreNormMode::None) return n;
  double lo = train.entries[0].score, hi = lo, sum = 0, sq = 0;
  for (const auto& e : train.entries) {
    lo = std::min(lo, e.score), hi = std::max(hi, e.score);
    sum += e.score, sq += e.score * e.score;
  }
  const double m = sum / double(train.entries.size());
  if (mode == ScoreNormMode::MinMax) {
    n.shift = lo;
    n.scale = hi > lo ? hi - lo : 1.0;
  } else {  // zscore
    const double var = std::max(0.0, sq / double(train.entries.size()) - m * m);
    n.shift = m;
    n.scale = var > 0 ? std::sqrt(var) : 1.0;
  }
  return n;
}

void render_lp_train_view(const std::string& path, uint64_t key, int crop, float* out) {
  const ImageU8 img = decode_image(path);
  check_fits(img, crop, path);
  const int y = draw_index(key, 1, img.height - crop + 1), x = draw_index(key, 2, img.width - crop + 1);
  ImageU8 view = iqa::crop(img, Rect{x, y, crop, crop});
  if (philox::uniform(key, 0) < 0.5f) view = hflip(view);
  normalize_to_chw(view, out);
}

void render_lp_five_crops(const std::string& path, int crop, float* out) {
  const ImageU8 img = decode_image(path);
  check_fits(img, crop, path);
  const size_t per = size_t(3) * size_t(crop) * size_t(crop);
  size_t k = 0;
  for (const Rect& r : five_crop_rects(img.width, img.height, crop)) normalize_to_chw(iqa::crop(img, r), out + per * k++);
}

}  // namespace iqa::training
