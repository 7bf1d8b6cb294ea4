#include "training/sind/config.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"

namespace iqa::training {
namespace {

bool one_of(const std::string& v, std::initializer_list<const char*> choices) {
  return std::any_of(choices.begin(), choices.end(), [&](const char* c) { return v == c; });
}

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
  f("resize", c.resize);
  f("bad_image", c.bad_image);
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
  need(one_of(loss_type, {"scale_shift", "l1"}), "--loss_type must be scale_shift or l1, got '" + loss_type + "'");
  need(scene_sampling >= 0, "--scene_sampling must be >= 0");
  if (scene_sampling > 0 && batch_size > 0)
    need(batch_size % scene_sampling == 0, "--batch_size " + std::to_string(batch_size) +
                                               " must be divisible by --scene_sampling " + std::to_string(scene_sampling));
  // The reference raises NotImplementedError here: the loss needs scene groups.
  need(!(loss_type == "scale_shift" && scene_sampling == 0), "--loss_type scale_shift needs --scene_sampling > 0");
  need(one_of(exp_type, {"leave-one-out", "cross-set", "random-split"}),
       "--exp_type must be leave-one-out, cross-set or random-split, got '" + exp_type + "'");
  need(eval_every > 0, "--eval_every must be positive");
  need(one_of(precision, {"fp32", "bf16", "fp16"}), "--precision must be fp32, bf16 or fp16, got '" + precision + "'");
  need(num_workers > 0, "--num_workers must be positive");
  need(one_of(local_view, {"mosaic", "same-crop"}), "--local_view must be mosaic or same-crop, got '" + local_view + "'");
  need(resize == 256 || resize == 244, "--resize must be 256 or 244, got " + std::to_string(resize));
  need(one_of(bad_image, {"fail", "skip"}), "--bad-image must be fail or skip, got '" + bad_image + "'");
  need(one_of(device, {"auto", "cpu", "cuda"}), "--device must be auto, cpu or cuda, got '" + device + "'");
  need(log_every > 0 && splits > 0, "--log_every and --splits must be positive");
  need(!(all_global && !local_global), "--all_global is an ablation of --local_global");
  need(!(all_global && clip_model == "ViT-B-8"), "--all_global needs a model with a CLS token (not ViT-B-8)");
  if (!demo) need(!train_dataset.empty(), "--train_dataset is required (or --demo)");
  need(!project_dir.empty(), "--project_dir must not be empty");
  if (!problems.empty()) {
    std::ostringstream os;
    os << "sind-train: invalid configuration:";
    for (const auto& p : problems) os << "\n  " << p;
    throw Error(os.str());
  }
}

std::string SindConfig::to_json() const {
  nlohmann::ordered_json j;
  SindConfig copy = *this;
  for_each_field(copy, [&](const char* key, auto& value) { j[key] = value; });
  return j.dump(2);
}

SindConfig SindConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(std::string("config.json: ") + e.what());
  }
  IQA_CHECK(j.is_object(), "config.json: expected an object");
  SindConfig c;
  size_t known = 0;
  for_each_field(c, [&](const char* key, auto& value) {
    if (!j.contains(key)) return;
    ++known;
    try {
      j.at(key).get_to(value);
    } catch (const std::exception& e) {
      throw Error(std::string("config.json: key '") + key + "': " + e.what());
    }
  });
  if (known != j.size()) {
    SindConfig probe;
    std::vector<std::string> names;
    for_each_field(probe, [&](const char* key, auto&) { names.push_back(key); });
    for (const auto& [key, _] : j.items())
      IQA_CHECK(std::find(names.begin(), names.end(), key) != names.end(), "config.json: unknown key '", key, "'");
  }
  return c;
}

std::map<std::string, std::string> SindConfig::to_string_map() const {
  std::map<std::string, std::string> m;
  const nlohmann::json j = nlohmann::json::parse(to_json());
  for (const auto& [key, value] : j.items()) m[key] = value.is_string() ? value.get<std::string>() : value.dump();
  return m;
}

}  // namespace iqa::training
