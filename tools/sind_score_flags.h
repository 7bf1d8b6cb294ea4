// sind-score's command line, in a header so that the tests parse the reference's test-script command
// (test_IQA.py: --data_dir --json_file --model_path --batch_size --input_size --save_dir) through exactly
// these flags. This project's names and the reference's are aliases of one option each; resolve()
// turns the reference's --data_dir / --save_dir into the inputs, root and output file they mean there.
#pragma once
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"
#include "tools/cli_choice.h"
#include "tools/output_format.h"
#include "training/sind/config.h"

namespace iqa::tools {

struct ScoreFlags {
  std::string checkpoint, data_json, data_root = ".", data_dir, out, save_dir, cache_dir;
  training::DeviceChoice device = training::DeviceChoice::Auto;
  BadImagePolicy bad = BadImagePolicy::Skip;
  DecodeMode decode = DecodeMode::Exact;
  OutputFormat format = OutputFormat::Auto;
  LocalViewMode local_view = LocalViewMode::Mosaic;
  std::vector<std::string> inputs;
  int batch_size = 8, input_size = 224;
  bool single_view = false, raw_weights = false, calibrate = false, no_progress = false;

  // The reference's test script: with --json_file, --data_dir is the root of its paths; without, the
  // folder to score. --save_dir D writes D/sind_scores.csv (the reference: D/imagenet_results_0_650000.csv,
  // a name from one of its experiments). Throws CLI::ValidationError on a contradiction.
  void resolve() {
    if (!data_dir.empty()) {
      if (data_json.empty()) {
        inputs.push_back(data_dir);
      } else {
        if (data_root != "." && data_root != data_dir)
          throw CLI::ValidationError("--data_dir", "is the listing's root here; it and --data_root differ");
        data_root = data_dir;
      }
    }
    if (!save_dir.empty()) {
      if (!out.empty()) throw CLI::ValidationError("--save_dir", "give --save_dir or --out, not both");
      out = (std::filesystem::path(save_dir) / "sind_scores.csv").string();
    }
    if (input_size != 224)
      throw CLI::ValidationError("--input_size", "must be 224 (the crop size the models take), got " + std::to_string(input_size));
    if (batch_size <= 0) throw CLI::ValidationError("--batch_size", "must be positive");
  }

  // What the parse alone cannot check; throws iqa::Error.
  void require_inputs() const {
    IQA_CHECK(!inputs.empty() || !data_json.empty(), "sind-score: give image files/folders, --data_json (--json_file) or --data_dir");
  }
};

}  // namespace iqa::tools

namespace iqa::tools {

inline void add_score_flags(CLI::App& app, ScoreFlags& f) {
  using namespace iqa::training;
  app.add_option("--checkpoint,--model_path", f.checkpoint,
                 "checkpoints/last.safetensors, best.safetensors or val-best.safetensors of a sind-train run, or a "
                 "reference state dict exported by tools/export_weights.py (--model_path: the reference's name)")
      ->required();
  app.add_option("inputs", f.inputs, "image files or folders");
  app.add_option("--data_json,--json_file", f.data_json,
                 "a listing: data_json (its scores give SRCC/PLCC) or image paths only (--json_file: the reference's)");
  app.add_option("--data_root", f.data_root, "root of the listing's image paths")->capture_default_str();
  app.add_option("--data_dir", f.data_dir,
                 "the reference's: the listing's root with --json_file, else the folder of images to score");
  app.add_option("--out", f.out, "write the scores to this file (default: stdout)");
  app.add_option("--save_dir", f.save_dir, "the reference's: write the scores to <save_dir>/sind_scores.csv");
  add_choice(app, "--format", f.format, "auto (json for an --out ending in .json, else csv) | csv | json");
  app.add_option("--batch_size", f.batch_size, "images decoded and scored together")->capture_default_str();
  app.add_option("--input_size", f.input_size, "crop size (224, the only size the models take)")->capture_default_str();
  app.add_option("--cache_dir", f.cache_dir,
                 "decoded-view cache folder (a training run's view_cache: its images are not decoded again); empty = off");
  app.add_flag("--single-view", f.single_view, "score the centre view pair only (default: 9-crop mean)");
  app.add_flag("--raw-weights", f.raw_weights, "last.safetensors' trained weights instead of their EMA");
  app.add_flag("--calibrate", f.calibrate, "also print each score on the training set's MOS scale");
  add_choice(app, "--local_view", f.local_view, "mosaic | same-crop (default: the run's --test_local_view)");
  add_choice(app, "--device", f.device, "auto | cpu | cuda");
  add_choice(app, "--bad-image", f.bad, "skip (score the rest, name each unreadable image, exit 2) | fail (stop at the first)");
  add_choice(app, "--decode", f.decode, "exact (full decode, the reference's pixels) | fast (DCT-scaled big JPEGs)");
  app.add_flag("--no-progress", f.no_progress, "no progress bar on stderr");
  app.callback([&f] { f.resolve(); });
}

}  // namespace iqa::tools
