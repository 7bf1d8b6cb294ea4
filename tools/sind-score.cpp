// sind-score: predicts quality with weights written by sind-train (checkpoints/last.safetensors,
// best.safetensors or val-best.safetensors; which one and whether EMA or raw is printed), by SIND's
// 9-crop test procedure (or the centre view only), for image files, folders, or a listing (data_json
// with scores: SRCC / PLCC are printed; or image paths only, as the reference's test script takes).
// Every readable image is scored; each unreadable one is named with its reason and the exit status is
// 2 (--bad-image fail stops at the first instead). --calibrate adds the score on the training set's
// MOS scale (training/sind/kept_weights.h). Scores go to stdout or --out, as CSV or JSON. The
// reference's test-script command runs with only the program name changed (tools/sind_score_flags.h),
// its .pth once exported to safetensors by tools/export_weights.py.
#include <filesystem>
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/omp_wait_policy.h"
#include "tools/sind_score_flags.h"
#include "training/epoch_loop.h"  // pick_training_device
#include "training/metrics.h"
#include "training/run_log.h"
#include "training/sind/eval.h"
#include "training/sind/kept_weights.h"
#include "training/sind/score_inputs.h"
#include "tools/tool_error.h"

using namespace iqa;
using namespace iqa::training;

int main(int argc, char** argv) {
  iqa::use_passive_omp_waits(argv);
  CLI::App app{"sind-score: score images with a trained SIND checkpoint"};
  iqa::tools::ScoreFlags f;
  iqa::tools::add_score_flags(app, f);
  CLI11_PARSE(app, argc, argv);
  const std::string &checkpoint = f.checkpoint, &data_json = f.data_json, &out = f.out;
  const bool single_view = f.single_view;

  try {
    f.require_inputs();
    const ScoringWeights w = load_scoring_weights(checkpoint, f.raw_weights);
    std::cerr << "sind-score: weights " << w.description << " from " << checkpoint << "\n";
    const std::optional<Calibration> cal = f.calibrate ? std::optional<Calibration>(w.calibration()) : std::nullopt;

    const ScoreInputs in = data_json.empty() ? list_score_inputs(f.inputs) : read_score_listing(data_json);
    if (!in.ignored.empty())
      std::cerr << "sind-score: ignored " << in.ignored.size() << " file(s) that are not images, e.g. " << in.ignored[0]
                << "\n";
    IQA_CHECK(!in.list.entries.empty(), "sind-score: no images found");
    EvalOptions eo;
    eo.data_root = data_json.empty() ? "" : f.data_root;
    eo.resize = w.config.resize;
    eo.local_view = app.count("--local_view") ? f.local_view : w.config.test_local_view;
    eo.nine_crop = !single_view;
    eo.bad_image = f.bad;
    eo.images_per_batch = f.batch_size;
    eo.decode = f.decode;
    eo.cache_dir = f.cache_dir;
    eo.device = pick_training_device(f.device, 0, "sind-score");
    const int64_t total = int64_t(in.list.entries.size());
    Progress progress("scoring", total, !f.no_progress && total >= 50);  // a bar for long folders only
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
    const bool json = iqa::tools::writes_json(f.format, out);
    const std::string text = json ? scores_json(rows, cal.has_value()) : scores_csv(rows, cal.has_value());
    if (out.empty()) {
      std::cout << text;
    } else if (!rows.empty() || p.skipped.empty()) {
      if (!f.save_dir.empty()) std::filesystem::create_directories(f.save_dir);  // no file of headers only when every image was unreadable
      // Replaced whole or not at all, so a stopped run never leaves a half file at `out`.
      write_file_atomically(out, text, "sind-score");
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
