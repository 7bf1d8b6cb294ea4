// sind-score: predicts quality with weights written by sind-train (checkpoints/last.safetensors,
// best.safetensors or val-best.safetensors; which one and whether EMA or raw is printed), by SIND's
// 9-crop test procedure (or the centre view only), for image files, folders, or a listing (data_json
// with scores: SRCC / PLCC are printed; or image paths only, as the reference's test script takes).
// Every readable image is scored; each unreadable one is named with its reason and the exit status is
// 2 (--bad-image fail stops at the first instead). --calibrate adds the score on the training set's
// MOS scale (training/sind/kept_weights.h). Scores go to stdout or --out, as CSV or JSON.
#include <filesystem>
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "engine/error.h"
#include "tools/cli_choice.h"
#include "training/epoch_loop.h"  // pick_training_device
#include "training/metrics.h"
#include "training/run_log.h"
#include "training/sind/eval.h"
#include "training/sind/kept_weights.h"
#include "training/sind/score_inputs.h"
#include "tools/tool_error.h"

using namespace iqa;
using namespace iqa::training;

namespace {

enum class OutputFormat { Auto, Csv, Json };

}  // namespace

template <>
struct iqa::training::ChoiceSpellings<OutputFormat> {
  static constexpr const char* flag = "--format";
  static constexpr Spelling<OutputFormat> all[] = {
      {OutputFormat::Auto, "auto"}, {OutputFormat::Csv, "csv"}, {OutputFormat::Json, "json"}};
};

int main(int argc, char** argv) {
  CLI::App app{"sind-score: score images with a trained SIND checkpoint"};
  std::string checkpoint, data_json, data_root = ".", out, cache_dir;
  DeviceChoice device = DeviceChoice::Auto;
  BadImagePolicy bad = BadImagePolicy::Skip;
  DecodeMode decode = DecodeMode::Exact;
  OutputFormat format = OutputFormat::Auto;
  LocalViewMode local_view = LocalViewMode::Mosaic;
  std::vector<std::string> inputs;
  bool single_view = false, raw_weights = false, calibrate = false, no_progress = false;
  app.add_option("--checkpoint", checkpoint,
                 "checkpoints/last.safetensors, best.safetensors or val-best.safetensors of a sind-train run")
      ->required();
  app.add_option("inputs", inputs, "image files or folders");
  app.add_option("--data_json", data_json, "a listing: data_json (its scores give SRCC/PLCC) or image paths only");
  app.add_option("--data_root", data_root, "root of the listing's image paths")->capture_default_str();
  app.add_option("--out", out, "write the scores to this file (default: stdout)");
  add_choice(app, "--format", format, "auto (json for an --out ending in .json, else csv) | csv | json");
  app.add_option("--cache_dir", cache_dir,
                 "decoded-view cache folder (a training run's view_cache: its images are not decoded again); empty = off");
  app.add_flag("--single-view", single_view, "score the centre view pair only (default: 9-crop mean)");
  app.add_flag("--raw-weights", raw_weights, "last.safetensors' trained weights instead of their EMA");
  app.add_flag("--calibrate", calibrate, "also print each score on the training set's MOS scale");
  add_choice(app, "--local_view", local_view, "mosaic | same-crop (default: the run's --test_local_view)");
  add_choice(app, "--device", device, "auto | cpu | cuda");
  add_choice(app, "--bad-image", bad, "skip (score the rest, name each unreadable image, exit 2) | fail (stop at the first)");
  add_choice(app, "--decode", decode, "exact (full decode, the reference's pixels) | fast (DCT-scaled big JPEGs)");
  app.add_flag("--no-progress", no_progress, "no progress bar on stderr");
  CLI11_PARSE(app, argc, argv);

  try {
    IQA_CHECK(!inputs.empty() || !data_json.empty(), "sind-score: give image files/folders or --data_json");
    const ScoringWeights w = load_scoring_weights(checkpoint, raw_weights);
    std::cerr << "sind-score: weights " << w.description << " from " << checkpoint << "\n";
    const std::optional<Calibration> cal = calibrate ? std::optional<Calibration>(w.calibration()) : std::nullopt;

    const ScoreInputs in = data_json.empty() ? list_score_inputs(inputs) : read_score_listing(data_json);
    if (!in.ignored.empty())
      std::cerr << "sind-score: ignored " << in.ignored.size() << " file(s) that are not images, e.g. " << in.ignored[0]
                << "\n";
    IQA_CHECK(!in.list.entries.empty(), "sind-score: no images found");
    EvalOptions eo;
    eo.data_root = data_json.empty() ? "" : data_root;
    eo.resize = w.config.resize;
    eo.local_view = app.count("--local_view") ? local_view : w.config.test_local_view;
    eo.nine_crop = !single_view;
    eo.bad_image = bad;
    eo.decode = decode;
    eo.cache_dir = cache_dir;
    eo.device = pick_training_device(device, 0, "sind-score");
    const int64_t total = int64_t(in.list.entries.size());
    Progress progress("scoring", total, !no_progress && total >= 50);  // a bar for long folders only
    eo.progress = [&](int64_t done, int64_t) { progress.update(done, done, std::nan("")); };
    w.model->to(eo.device);
    const Predictions p = predict_dataset(*w.model, in.list, eo);
    progress.finish();
    for (const auto& s : p.skipped) std::cerr << "sind-score: unreadable: " << s << "\n";

    std::vector<ScoreRow> rows;
    std::vector<double> pred, score;
    for (size_t i = 0; i < p.index.size(); ++i) {
      const DatasetEntry& e = in.list.entries[size_t(p.index[i])];
      rows.push_back(ScoreRow{e.image, p.pred[i], cal ? cal->apply(p.pred[i]) : 0.0});
      pred.push_back(p.pred[i]);
      score.push_back(e.score);
    }
    const bool json = format == OutputFormat::Json ||
                      (format == OutputFormat::Auto && out.size() > 5 && out.substr(out.size() - 5) == ".json");
    const std::string text = json ? scores_json(rows, cal.has_value()) : scores_csv(rows, cal.has_value());
    if (out.empty()) {
      std::cout << text;
    } else if (!rows.empty() || p.skipped.empty()) {  // no file of headers only when every image was unreadable
      // Written under a temporary name and renamed, so a stopped run never leaves a half file at `out`.
      const std::string tmp = out + ".tmp";
      {
        std::ofstream f(tmp);
        f << text;
        f.flush();
        IQA_CHECK(f.good(), "sind-score: could not write ", tmp);
      }
      std::error_code ec;
      std::filesystem::rename(tmp, out, ec);
      IQA_CHECK(!ec, "sind-score: could not rename ", tmp, " to ", out, ": ", ec.message());
    }
    if (in.labelled && pred.size() >= 2) {
      const Correlation c = correlate(pred, score);
      std::fprintf(out.empty() ? stderr : stdout, "SRCC %.4f  PLCC %.4f  (%lld images%s)\n", c.srcc, c.plcc,
                   (long long)c.count, single_view ? ", centre view" : ", 9-crop");
    }
    if (!p.skipped.empty())
      std::cerr << "sind-score: " << p.skipped.size() << " of " << total << " image(s) could not be read (listed above)\n";
    return p.skipped.empty() ? 0 : 2;
  } catch (const std::exception& e) {
    return iqa::tools::report_error("sind-score", e);
  }
}
