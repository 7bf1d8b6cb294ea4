#include "training/sind/config.h"

#include <algorithm>

#include "engine/error.h"
#include "training/config_json.h"

namespace iqa::training {
namespace {

// The fields once, for both directions of the JSON conversion.
template <class F>
void for_each_field(SindConfig& c, F&& f) {
  f("clip_model", c.clip_model);
  f("pretrained", c.pretrained);
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

}  // namespace

void SindConfig::validate() const {
  std::vector<std::string> problems;
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) problems.push_back(msg);
  };
  need(one_of(clip_model, {"ViT-B-16", "ViT-B-8", "resnet50", "tiny", "tiny16"}),
       "--clip_model must be ViT-B-16, ViT-B-8, resnet50, tiny or tiny16, got '" + clip_model + "'");
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
  need(!(all_global && clip_model == "ViT-B-8"), "--all_global needs a model with a CLS token (not ViT-B-8)");
  if (!demo) need(!train_dataset.empty(), "--train_dataset is required (or --demo)");
  need(!project_dir.empty(), "--project_dir must not be empty");
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
