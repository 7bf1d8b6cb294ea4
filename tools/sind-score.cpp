// sind-score: predicts quality with a checkpoint written by sind-train, by SIND's 9-crop test
// procedure (or the centre view only), for image files, folders, or a data_json listing. Prints
// "path,score" lines (or writes CSV / JSON); on a listing with scores also prints SRCC / PLCC.
// Unreadable images are reported by name; with --bad-image skip the rest are still scored.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "tools/cli_choice.h"
#include "training/checkpoint.h"
#include "training/epoch_loop.h"  // pick_training_device
#include "training/image/decode.h"
#include "training/metrics.h"
#include "training/sind/eval.h"
#include "training/sind/model.h"

using namespace iqa;
using namespace iqa::training;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"sind-score: score images with a trained SIND checkpoint"};
  std::string checkpoint, data_json, data_root = ".", out, cache_dir;
  DeviceChoice device = DeviceChoice::Auto;
  BadImagePolicy bad = BadImagePolicy::Fail;
  std::vector<std::string> inputs;
  bool single_view = false, raw_weights = false;
  app.add_option("--checkpoint", checkpoint, "a sind-train checkpoint (checkpoints/last.safetensors)")->required();
  app.add_option("inputs", inputs, "image files or folders");
  app.add_option("--data_json", data_json, "a data_json listing (its scores give SRCC/PLCC)");
  app.add_option("--data_root", data_root, "root of the listing's image paths")->capture_default_str();
  app.add_option("--out", out, "write scores to this .csv or .json file");
  app.add_option("--cache_dir", cache_dir,
                 "decoded-view cache folder (a training run's view_cache: its images are not decoded again); empty = off");
  app.add_flag("--single-view", single_view, "score the centre view pair only (default: 9-crop mean)");
  app.add_flag("--raw-weights", raw_weights, "use the trained weights instead of their EMA");
  add_choice(app, "--device", device, "auto | cpu | cuda");
  add_choice(app, "--bad-image", bad, "fail | skip");
  CLI11_PARSE(app, argc, argv);

  try {
    IQA_CHECK(!inputs.empty() || !data_json.empty(), "sind-score: give image files/folders or --data_json");
    // The run's configuration travels in the checkpoint: it says which model to build.
    const auto stored = read_checkpoint_config(checkpoint);
    SindConfig cfg;
    cfg.clip_model = stored.at("clip_model");
    cfg.local_global = stored.at("local_global") == "true";
    cfg.all_global = stored.at("all_global") == "true";
    cfg.resize = std::stoi(stored.at("resize"));
    cfg.local_view = parse_choice<LocalViewMode>(stored.at("local_view"));
    auto model = make_sind_model(cfg);
    const auto params = split_sind_parameters(*model);
    std::vector<Tensor> all = params.backbone;
    all.insert(all.end(), params.head.begin(), params.head.end());
    ExponentialMovingAverage ema(all, 0.99);
    TrainingState st;
    st.model = model.get();
    st.ema = &ema;
    load_checkpoint(checkpoint, st);
    if (!raw_weights) ema.copy_to();  // evaluation uses the EMA weights, as in training

    DatasetList list;
    std::string root = data_root;
    if (!data_json.empty()) {
      list = read_data_json(data_json);
    } else {
      root = "";
      for (const auto& in : inputs) {
        if (fs::is_directory(in)) {
          std::vector<std::string> files;
          for (const auto& e : fs::recursive_directory_iterator(in))
            if (e.is_regular_file() && image_format_from_extension(e.path().string()) != ImageFormat::Unknown)
              files.push_back(e.path().string());
          std::sort(files.begin(), files.end());
          for (const auto& f : files) list.entries.push_back(DatasetEntry{f});
        } else {
          list.entries.push_back(DatasetEntry{in});
        }
      }
    }
    IQA_CHECK(!list.entries.empty(), "sind-score: no images found");
    EvalOptions eo;
    eo.data_root = root;
    eo.resize = cfg.resize;
    eo.local_view = cfg.local_view;
    eo.nine_crop = !single_view;
    eo.bad_image = bad;
    eo.cache_dir = cache_dir;
    eo.device = pick_training_device(device, 0, "sind-score");
    model->to(eo.device);
    const Predictions p = predict_dataset(*model, list, eo);
    for (const auto& s : p.skipped) std::cerr << "sind-score: skipped " << s << "\n";

    std::vector<double> pred, score;
    std::string csv = "image,score\n";
    nlohmann::json js = nlohmann::json::array();
    for (size_t i = 0; i < p.index.size(); ++i) {
      const DatasetEntry& e = list.entries[size_t(p.index[i])];
      char line[64];
      std::snprintf(line, sizeof line, "%.6f", p.pred[i]);
      csv += e.image + "," + line + "\n";
      js.push_back({{"image", e.image}, {"score", p.pred[i]}});
      pred.push_back(p.pred[i]);
      score.push_back(e.score);
    }
    if (out.empty()) std::cout << csv;
    else if (out.size() > 5 && out.substr(out.size() - 5) == ".json") std::ofstream(out) << js.dump(2) << "\n";
    else std::ofstream(out) << csv;
    if (!data_json.empty() && pred.size() >= 2) {
      const Correlation c = correlate(pred, score);
      std::printf("SRCC %.4f  PLCC %.4f  (%lld images%s)\n", c.srcc, c.plcc, (long long)c.count,
                  single_view ? ", centre view" : ", 9-crop");
    }
    if (!p.skipped.empty()) std::cerr << "sind-score: " << p.skipped.size() << " image(s) could not be read\n";
    return p.skipped.empty() ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "sind-score: " << e.what() << std::endl;
    return 1;
  }
}
