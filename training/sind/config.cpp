#include "training/sind/config.h"

#include <algorithm>
#include <filesystem>

#include "engine/error.h"
#include "training/config_json.h"

namespace iqa::training {
namespace {

// The fields once, for both directions of the JSON conversion.
template <class F>
void for_each_field(SindConfig& c, F&& f) {
  f("clip_model", c.clip_model);
  f("pretrained", c.pretrained);
  f("from_scratch", c.from_scratch);
  f("clip_freeze", c.clip_freeze);
  f("ema_decay", c.ema_decay);
  f("input_size", c.input_size);
  f("epochs", c.epochs);
  f("lr", c.lr);
  f("lr_ratio", c.lr_ratio);
  f("warmup_epoch", c.warmup_epoch);
  f("weight_decay", c.weight_decay);
  f("batch_size", c.batch_size);
  f("local_global", c.local_global);
  f("all_global", c.all_global);
  f("loss_type", c.loss_type);
  f("scene_sampling", c.scene_sampling);
  f("project_dir", c.project_dir);
  f("train_dataset", c.train_dataset);
  f("test_dataset", c.test_dataset);
  f("exp_type", c.exp_type);
  f("dataset_domain", c.dataset_domain);
  f("data_root", c.data_root);
  f("json_root", c.json_root);
  f("eval_every", c.eval_every);
  f("seed", c.seed);
  f("resume", c.resume);
  f("load_from", c.load_from);
  f("start_epoch", c.start_epoch);
  f("precision", c.precision);
  f("num_workers", c.num_workers);
  f("local_view", c.local_view);
  f("test_local_view", c.test_local_view);
  f("resize", c.resize);
  f("bad_image", c.bad_image);
  f("decode", c.decode);
  f("cache_dir", c.cache_dir);
  f("device", c.device);
  f("log_every", c.log_every);
  f("splits", c.splits);
  f("demo", c.demo);
}

// The reference's spellings: open_clip's "<pretrained>/<tag>" (only the openai tag exists for B/16),
// the bare tag, and its QuickGELU variant (OpenAI's weights use QuickGELU either way, as ours do).
struct ModelSpelling {
  const char* spelling;
  ClipModel model;
};
constexpr ModelSpelling kSpellings[] = {{"openai/ViT-B-16", ClipModel::ViTB16}, {"openai/ViT-B-16-quickgelu", ClipModel::ViTB16},
                                        {"ViT-B-16-quickgelu", ClipModel::ViTB16}, {"ViT-B-16", ClipModel::ViTB16},
                                        {"ViT-B-8", ClipModel::ViTB8},         {"resnet50", ClipModel::ResNet50},
                                        {"tiny", ClipModel::Tiny},             {"tiny16", ClipModel::Tiny16}};

bool needs_pretrained(ClipModel model) { return model != ClipModel::Tiny && model != ClipModel::Tiny16; }

}  // namespace

std::string clip_model_spellings() {
  std::string s;
  for (const auto& m : kSpellings) s += (s.empty() ? "" : " | ") + std::string(m.spelling);
  return s;
}

ClipModel canonical_clip_model(const std::string& name) {
  for (const auto& m : kSpellings)
    if (name == m.spelling) return m.model;
  throw Error("--clip_model must be one of " + clip_model_spellings() + ", got '" + name + "'");
}

std::string default_weights_file(ClipModel clip_model, const std::string& weights_dir) {
  switch (clip_model) {
    case ClipModel::ViTB16: return weights_dir + "/clip_vit_b16.safetensors";
    case ClipModel::ViTB8: return weights_dir + "/clip_vit_b8.safetensors";
    case ClipModel::ResNet50: return weights_dir + "/resnet50.safetensors";
    case ClipModel::Tiny:
    case ClipModel::Tiny16: break;
  }
  return "";
}

void use_default_weights(SindConfig& cfg, const std::string& weights_dir) {
  const std::string f = default_weights_file(cfg.clip_model, weights_dir);
  if (cfg.pretrained.empty() && !cfg.from_scratch && !f.empty() && std::filesystem::exists(f)) cfg.pretrained = f;
}

void SindConfig::validate() const {
  std::vector<std::string> problems;
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) problems.push_back(msg);
  };
  need(epochs >= 1, "--epochs must be >= 1");
  need(lr > 0 && lr_ratio > 0, "--lr and --lr_ratio must be positive");
  need(warmup_epoch >= 0, "--warmup_epoch must be >= 0");
  need(weight_decay >= 0, "--weight_decay must be >= 0");
  need(batch_size > 0, "--batch_size must be positive");
  need(scene_sampling >= 0, "--scene_sampling must be >= 0");
  if (scene_sampling > 0 && batch_size > 0)
    need(batch_size % scene_sampling == 0, "--batch_size " + std::to_string(batch_size) +
                                               " must be divisible by --scene_sampling " + std::to_string(scene_sampling));
  // The reference raises NotImplementedError here: the loss needs scene groups.
  need(!(loss_type == LossType::ScaleShift && scene_sampling == 0), "--loss_type scale_shift needs --scene_sampling > 0");
  need(eval_every >= 0, "--eval_every must be >= 0 (0: every 5 epochs for leave-one-out and random-split, every epoch for cross-set)");
  need(num_workers > 0, "--num_workers must be positive");
  need(resize == 256 || resize == 244, "--resize must be 256 or 244, got " + std::to_string(resize));
  need(log_every > 0 && splits > 0, "--log_every and --splits must be positive");
  need(!(all_global && !local_global), "--all_global is an ablation of --local_global");
  need(!(all_global && clip_model == ClipModel::ViTB8), "--all_global needs a model with a CLS token (not ViT-B-8)");
  if (!demo) need(!train_dataset.empty(), "--train_dataset is required (or --demo)");
  need(!project_dir.empty(), "--project_dir must not be empty");
  need(ema_decay >= 0 && ema_decay <= 1, "--ema_decay must be in [0, 1]");
  // Every model here takes 224x224 crops (ViT-B/16's position table, the mosaic's 7x7 grid of 32s).
  need(input_size == 224, "--input_size must be 224 (the crop size of " + std::string(choice_name(clip_model)) + "), got " + std::to_string(input_size));
  // The reference never trains these from random weights (open_clip / torchvision download them), so a
  // missing file is an error, not a silent random init. An explicit --resume file carries the weights.
  const bool resumes_a_file = !resume.empty() && resume != "auto";
  if (needs_pretrained(clip_model) && pretrained.empty() && !from_scratch && !resumes_a_file && load_from.empty())
    problems.push_back(std::string("--clip_model ") + choice_name(clip_model) + " needs pretrained weights: pass --pretrained FILE or put the file at " +
                       default_weights_file(clip_model, "./weights") +
                       "; make it with tools/export_weights.py from an OpenCLIP / OpenAI checkpoint (ViT-B-16.pt, "
                       "--visual-only), a Hugging Face openai/clip-vit-base-patch16 pytorch_model.bin or torchvision's "
                       "resnet50-0676ba61.pth; --from_scratch trains from random weights on purpose");
  need(pretrained.empty() || std::filesystem::exists(pretrained), "--pretrained " + pretrained + " does not exist");
  need(load_from.empty() || std::filesystem::exists(load_from), "--load_from " + load_from + " does not exist");
  // The reference's --start_epoch N runs epochs N..epochs with a fresh optimizer and schedule and no
  // state restored (its resume_from is commented out), i.e. a shorter run labelled from N; here the
  // epoch loop numbers epochs from 0 or from a checkpoint, so N > 0 says what does each half of that.
  need(start_epoch == 0, "--start_epoch " + std::to_string(start_epoch) +
                             ": use --resume FILE (or --resume_from FILE) to continue a run at its checkpoint's epoch, "
                             "or --load_from FILE --epochs " + std::to_string(std::max(1, epochs - start_epoch)) +
                             " for a fresh run from trained weights");
  throw_config_problems("sind-train", problems);
}

std::string SindConfig::to_json() const {
  return fields_to_json(*this, [](SindConfig& c, auto&& f) { for_each_field(c, f); });
}

SindConfig SindConfig::from_json(const std::string& text) {
  return fields_from_json<SindConfig>(text, "config.json", [](SindConfig& c, auto&& f) { for_each_field(c, f); });
}

std::map<std::string, std::string> SindConfig::to_string_map() const { return json_string_map(to_json()); }

}  // namespace iqa::training
