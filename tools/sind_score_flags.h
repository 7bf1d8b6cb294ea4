// sind-score's command line, registered here rather than in its main so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the tool does, without scoring anything.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/error.h"
#include "tools/cli_choice.h"
#include "training/sind/config.h"

namespace iqa::training {

enum class ScoreOutputFormat { Auto, Csv, Json };

template <>
struct ChoiceSpellings<ScoreOutputFormat> {
  static constexpr const char* flag = "--format";
  static constexpr Spelling<ScoreOutputFormat> all[] = {
      {ScoreOutputFormat::Auto, "auto"}, {ScoreOutputFormat::Csv, "csv"}, {ScoreOutputFormat::Json, "json"}};
};

struct SindScoreArgs {
  std::string checkpoint, data_json, data_root = ".", out, cache_dir;
  DeviceChoice device = DeviceChoice::Auto;
  BadImagePolicy bad = BadImagePolicy::Skip;
  DecodeMode decode = DecodeMode::Exact;
  ScoreOutputFormat format = ScoreOutputFormat::Auto;
  LocalViewMode local_view = LocalViewMode::Mosaic;
  bool local_view_given = false;  // else the checkpoint's --test_local_view
  std::vector<std::string> inputs;
  bool single_view = false, raw_weights = false, calibrate = false, no_progress = false;

  // Whether the scores go out as JSON: --format json, or auto with an --out ending in .json.
  bool json() const {
    return format == ScoreOutputFormat::Json ||
           (format == ScoreOutputFormat::Auto && out.size() > 5 && out.substr(out.size() - 5) == ".json");
  }
};

inline void add_sind_score_flags(CLI::App& app, SindScoreArgs& a) {
  add_checkpoint_and_images(app, a.checkpoint, a.inputs,
                            "checkpoints/last.safetensors, best.safetensors or val-best.safetensors of a sind-train run");
  app.add_option("--data_json", a.data_json, "a listing: data_json (its scores give SRCC/PLCC) or image paths only");
  app.add_option("--data_root", a.data_root, "root of the listing's image paths")->capture_default_str();
  app.add_option("--out", a.out, "write the scores to this file (default: stdout)");
  add_choice(app, "--format", a.format, "auto (json for an --out ending in .json, else csv) | csv | json");
  app.add_option("--cache_dir", a.cache_dir,
                 "decoded-view cache folder (a training run's view_cache: its images are not decoded again); empty = off");
  app.add_flag("--single-view", a.single_view, "score the centre view pair only (default: 9-crop mean)");
  app.add_flag("--raw-weights", a.raw_weights, "last.safetensors' trained weights instead of their EMA");
  app.add_flag("--calibrate", a.calibrate, "also print each score on the training set's MOS scale");
  add_choice(app, "--local_view", a.local_view, "mosaic | same-crop (default: the run's --test_local_view)");
  add_choice(app, "--device", a.device, "auto | cpu | cuda");
  add_choice(app, "--bad-image", a.bad, "skip (score the rest, name each unreadable image, exit 2) | fail (stop at the first)");
  add_choice(app, "--decode", a.decode, "exact (full decode, the reference's pixels) | fast (DCT-scaled big JPEGs)");
  app.add_flag("--no-progress", a.no_progress, "no progress bar on stderr");
}

// What the parse alone cannot check; throws iqa::Error.
inline void finish_sind_score_args(SindScoreArgs& a, const CLI::App& app) {
  IQA_CHECK(!a.inputs.empty() || !a.data_json.empty(), "sind-score: give image files/folders or --data_json");
  a.local_view_given = app.count("--local_view") > 0;
}

}  // namespace iqa::training
