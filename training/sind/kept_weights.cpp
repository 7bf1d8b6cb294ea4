#include "training/sind/kept_weights.h"
#include "training/sind/load_from.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/ema.h"
#include "engine/error.h"
#include "training/checkpoint.h"
#include "training/sind/model.h"

namespace iqa::training {
namespace {

std::string exact(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

std::string four(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

}  // namespace

RobustScale robust_scale(std::vector<double> v) {
  IQA_CHECK(!v.empty(), "robust_scale: no values");
  std::sort(v.begin(), v.end());
  RobustScale s;
  s.median = v[(v.size() - 1) / 2];  // torch.median: the lower middle value
  for (double x : v) s.mad += std::abs(x - s.median);
  s.mad /= double(v.size());
  return s;
}

double Calibration::apply(double p) const {
  return (p - pred.median) / (pred.mad + 1e-8) * (mos.mad + 1e-8) + mos.median;
}

void store_mos_scale(std::map<std::string, std::string>& config, const RobustScale& mos) {
  config["mos_median"] = exact(mos.median);
  config["mos_mad"] = exact(mos.mad);
}

void store_prediction_scale(std::map<std::string, std::string>& config, const RobustScale& pred) {
  config["pred_median"] = exact(pred.median);
  config["pred_mad"] = exact(pred.mad);
}

std::string kept_weights_path(const std::string& run_dir, const std::string& kind, const std::string& set,
                              bool several_sets) {
  std::string name = kind;
  if (several_sets) {
    std::string safe = set;
    for (char& ch : safe)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
    name += "." + safe;
  }
  return run_dir + "/checkpoints/" + name + ".safetensors";
}

DatasetList calibration_subset(const DatasetList& train, size_t limit) {
  const size_t n = train.entries.size(), step = std::max<size_t>(1, (n + limit - 1) / limit);
  DatasetList out;
  for (size_t i = 0; i < n; i += step) out.entries.push_back(train.entries[i]);
  return out;
}

Calibration ScoringWeights::calibration() const {
  IQA_CHECK(!raw, path, ": --calibrate maps the EMA weights' predictions; it has no statistics for --raw-weights");
  IQA_CHECK(stored.count("mos_median") && stored.count("pred_median"), path,
            ": no calibration statistics (mos_median / pred_median); they are written when a run evaluates "
            "(best, val-best) or finishes (last); this checkpoint is older or its run stopped early");
  Calibration c;
  c.mos = {config_number(stored, "mos_median", path), config_number(stored, "mos_mad", path)};
  c.pred = {config_number(stored, "pred_median", path), config_number(stored, "pred_mad", path)};
  return c;
}

ScoringWeights load_scoring_weights(const std::string& checkpoint, bool raw_weights) {
  ScoringWeights w;
  w.path = checkpoint;
  w.raw = raw_weights;
  require_safetensors("--checkpoint", checkpoint);
  // No format (tools/export_weights.py) or safetensors' own "pt": a reference model, as its test
  // script loads it. Any other format is read below, whose error names it.
  if (const std::string fmt = safetensors_format(checkpoint); fmt.empty() || fmt == "pt") {
    IQA_CHECK(!raw_weights, checkpoint, " is a state dict, not a sind-train checkpoint: it has no raw/EMA pair for --raw-weights");
    w.model = reference_test_model(checkpoint, w.config);
    w.description = "a reference state dict (ViT-B-16 --local_global, as test_IQA.py's load_sind)";
    return w;
  }
  w.stored = read_checkpoint_config(checkpoint);
  auto get = [&](const std::string& key) {
    auto it = w.stored.find(key);
    IQA_CHECK(it != w.stored.end(), checkpoint, ": no '", key, "' in the checkpoint's config (not a sind-train checkpoint?)");
    return it->second;
  };
  SindConfig& cfg = w.config;
  cfg.clip_model = parse_choice<ClipModel>(get("clip_model"));
  cfg.local_global = get("local_global") == "true";
  cfg.all_global = get("all_global") == "true";
  cfg.resize = int(config_integer(w.stored, "resize", checkpoint, 1, 1 << 16));
  cfg.local_view = parse_choice<LocalViewMode>(get("local_view"));
  // Checkpoints from before --test_local_view evaluated with the training view.
  cfg.test_local_view = w.stored.count("test_local_view") ? parse_choice<LocalViewMode>(get("test_local_view")) : cfg.local_view;
  w.model = make_sind_model(cfg);
  TrainingState st;
  st.model = w.model.get();
  const auto kept = w.stored.find("kept");
  if (kept != w.stored.end()) {
    IQA_CHECK(!raw_weights, checkpoint, " holds only the EMA weights of its epoch ('", kept->second,
              "'); --raw-weights needs checkpoints/last.safetensors");
    load_checkpoint(checkpoint, st);
    const std::string set = get("kept_set");
    w.description = kept->second + " (EMA weights of epoch " + get("kept_epoch") + ", " +
                    (kept->second == "val-best" ? "validation" : "test") + " SRCC " + four(config_number(w.stored, "kept_srcc", checkpoint)) +
                    " on " + set + ")";
    return w;
  }
  const ParamSplit split = split_sind_parameters(*w.model);
  std::vector<Tensor> all = split.backbone;
  all.insert(all.end(), split.head.begin(), split.head.end());
  ExponentialMovingAverage ema(all, 0.99);
  st.ema = &ema;
  load_checkpoint(checkpoint, st);
  if (!raw_weights) ema.copy_to();  // evaluation uses the EMA weights, as in training
  w.description = std::string("last (") + (raw_weights ? "raw" : "EMA") + " weights of epoch " + std::to_string(st.epoch) +
                  ", step " + std::to_string(st.step) + ")";
  return w;
}

}  // namespace iqa::training
