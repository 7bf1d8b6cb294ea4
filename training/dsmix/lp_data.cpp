#include "training/dsmix/lp_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>

#include "engine/error.h"
#include "kernels/philox.h"
#include "training/image/augment.h"
#include "training/image/augment_plan.h"
#include "training/image/decode.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {
bool is_json_path(const std::string& s) { return s.size() > 5 && s.substr(s.size() - 5) == ".json"; }

void check_fits(int width, int height, int crop, const std::string& path) {
  IQA_CHECK(width >= crop && height >= crop, path, ": ", width, "x", height, " is smaller than the ", crop, "x", crop,
            " crop");
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

namespace {

// The decoded image behind a linear-probing view: from the cache when it has it (a miss decodes and
// stores it), else decoded.
struct LpSource {
  std::optional<CachedViews> hit;
  ImageU8 decoded;
  const uint8_t* pixels = nullptr;
  int width = 0, height = 0;
  LpSource(const std::string& path, ViewCache* cache) {
    const std::string file = cache ? view_cache_file_key(path) : "";
    const bool keyed = !file.empty();
    const std::string key = keyed ? file + "|whole" : "";
    if (keyed) hit = cache->find(key);
    if (hit) {
      pixels = hit->mosaic.pixels, width = hit->mosaic.width, height = hit->mosaic.height;
      return;
    }
    decoded = decode_image(path);
    if (keyed) cache->store_image(key, decoded);
    pixels = decoded.pixels.data(), width = decoded.width, height = decoded.height;
  }
  // The crop r, mirrored when flip: equals hflip(crop(image, r)).
  ImageU8 cut(const Rect& r, bool flip) const {
    ImageU8 out(r.width, r.height, 3);
    for (int y = 0; y < r.height; ++y)
      for (int x = 0; x < r.width; ++x)
        std::memcpy(&out.pixels[(size_t(y) * size_t(r.width) + size_t(x)) * 3],
                    pixels + (size_t(r.y + y) * size_t(width) + size_t(r.x + (flip ? r.width - 1 - x : x))) * 3, 3);
    return out;
  }
};

}  // namespace

void render_lp_train_view(const std::string& path, uint64_t key, int crop, float* out, ViewCache* cache) {
  const LpSource img(path, cache);
  check_fits(img.width, img.height, crop, path);
  const int y = draw_index(key, 1, img.height - crop + 1), x = draw_index(key, 2, img.width - crop + 1);
  normalize_to_chw(img.cut(Rect{x, y, crop, crop}, philox::uniform(key, 0) < 0.5f), out);
}

void render_lp_five_crops(const std::string& path, int crop, float* out, ViewCache* cache) {
  const LpSource img(path, cache);
  check_fits(img.width, img.height, crop, path);
  const size_t per = size_t(3) * size_t(crop) * size_t(crop);
  size_t k = 0;
  for (const Rect& r : five_crop_rects(img.width, img.height, crop)) normalize_to_chw(img.cut(r, false), out + per * k++);
}

}  // namespace iqa::training
