#include "training/sind/load_from.h"

#include "engine/error.h"
#include "engine/safetensors.h"
#include "models/checkpoint_names.h"
#include "training/checkpoint.h"
#include "training/sind/kept_weights.h"
#include "training/sind/model.h"

namespace iqa::training {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string model_of(const SindConfig& c) {
  return std::string(choice_name(c.clip_model)) + (c.local_global ? " --local_global" : "") + (c.all_global ? " --all_global" : "");
}

}  // namespace

void require_safetensors(const std::string& flag, const std::string& path) {
  for (const char* ext : {".pth", ".pt", ".bin"})
    IQA_CHECK(!ends_with(path, ext), flag, " ", path,
              " is a PyTorch file, which this program does not unpickle: convert it with python3 tools/export_weights.py ",
              path, " model.safetensors and pass model.safetensors");
}

std::shared_ptr<models::QualityModel> reference_test_model(const std::string& path, SindConfig& cfg) {
  cfg = SindConfig{};
  cfg.clip_model = ClipModel::ViTB16;
  cfg.local_global = true;
  cfg.resize = 256;
  cfg.test_local_view = LocalViewMode::Mosaic;
  std::shared_ptr<models::QualityModel> model = make_sind_model(cfg);
  models::load_sind_reference(*model, load_safetensors(path), true, path);
  return model;
}

std::string load_sind_weights_only(models::QualityModel& model, const SindConfig& cfg, const std::string& path) {
  require_safetensors("--load_from", path);
  const std::string format = safetensors_format(path);
  if (format == kTrainingCheckpointFormat) {
    const ScoringWeights w = load_scoring_weights(path, false);
    IQA_CHECK(model_of(w.config) == model_of(cfg), "--load_from ", path, " holds a ", model_of(w.config),
              " model; this run builds ", model_of(cfg));
    model.load_state_dict(w.model->state_dict(), true);
    return path + ": " + w.description;
  }
  IQA_CHECK(format.empty() || format == "pt", "--load_from ", path, ": metadata format '", format,
            "' is neither a sind-train checkpoint nor an exported state dict");
  return models::load_sind_reference(model, load_safetensors(path), true, path).summary();
}

}  // namespace iqa::training
