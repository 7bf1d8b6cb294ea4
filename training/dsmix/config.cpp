#include "training/dsmix/config.h"

#include <algorithm>
#include <filesystem>

#include "engine/cuda_runtime.h"
#include "engine/error.h"
#include "training/config_json.h"

namespace iqa::training {
namespace {

// The fields once, for both directions of the JSON conversion.
template <class F>
void for_each_field(DsmixConfig& c, F&& f) {
  f("stage", c.stage);
  f("project_dir", c.project_dir);
  f("demo", c.demo);
  f("epochs", c.epochs);
  f("batch_size", c.batch_size);
  f("lr", c.lr);
  f("weight_decay", c.weight_decay);
  f("crop", c.crop);
  f("seed", c.seed);
  f("resume", c.resume);
  f("device", c.device);
  f("precision", c.precision);
  f("num_workers", c.num_workers);
  f("cache_dir", c.cache_dir);
  f("log_every", c.log_every);
  f("eval_every", c.eval_every);
  f("kadis_root", c.kadis_root);
  f("kadis_type8", c.kadis_type8);
  f("distorted_csv", c.distorted_csv);
  f("reference_dir", c.reference_dir);
  f("references", c.references);
  f("types", c.types);
  f("types_per_image", c.types_per_image);
  f("holdout", c.holdout);
  f("dsm_model", c.dsm_model);
  f("qe_model", c.qe_model);
  f("channels_last", c.channels_last);
  f("dsm_checkpoint", c.dsm_checkpoint);
  f("mix", c.mix);
  f("random_box_count", c.random_box_count);
  f("label_space", c.label_space);
  f("teacher", c.teacher);
  f("kd_alpha", c.kd_alpha);
  f("kd_beta", c.kd_beta);
  f("images_per_reference", c.images_per_reference);
  f("momentum", c.momentum);
  f("qep_optimizer", c.qep_optimizer);
  f("lr_step", c.lr_step);
  f("lr_gamma", c.lr_gamma);
  f("encoder", c.encoder);
  f("dataset", c.dataset);
  f("data_root", c.data_root);
  f("json_root", c.json_root);
  f("splits", c.splits);
  f("train_fraction", c.train_fraction);
  f("score_norm", c.score_norm);
}

std::string dataset_key(const std::string& dataset) {
  std::string s = std::filesystem::path(dataset).stem().string();
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return s;
}

}  // namespace

int lp_default_epochs(const std::string& dataset) {
  const std::string k = dataset_key(dataset);
  for (const char* name : {"tid2013", "kadid10k", "kadid", "koniq10k", "koniq", "flive", "paq2piq"})
    if (k == name) return 200;
  return 100;
}

DsmixConfig DsmixConfig::resolved() const {
  DsmixConfig c = *this;
  if (stage == DsmixStage::DSM) {
    if (c.epochs == 0) c.epochs = 10;
    if (c.batch_size == 0) c.batch_size = 40;
    if (c.lr == 0) c.lr = 5e-3;
    if (c.weight_decay < 0) c.weight_decay = 1e-4;
  } else if (stage == DsmixStage::QEP) {
    if (c.epochs == 0) c.epochs = 120;
    if (c.batch_size == 0) c.batch_size = 110;
    if (c.lr == 0) c.lr = 0.01;
    if (c.weight_decay < 0) c.weight_decay = 1e-4;
  } else if (stage == DsmixStage::LP) {
    if (c.epochs == 0) c.epochs = lp_default_epochs(dataset);
    if (c.batch_size == 0) c.batch_size = 64;
    if (c.lr == 0) c.lr = 7e-4;
    if (c.weight_decay < 0) c.weight_decay = 0.01;
  }
  return c;
}

void DsmixConfig::validate() const {
  std::vector<std::string> problems;
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) problems.push_back(msg);
  };
  need(epochs >= 1, "--epochs must be >= 1 (resolve the stage defaults first)");
  need(batch_size >= 1, "--batch_size must be >= 1");
  need(lr > 0, "--lr must be positive");
  need(weight_decay >= 0, "--weight_decay must be >= 0");
  need(crop >= 16 && crop % 8 == 0, "--crop must be a multiple of 8 and >= 16, got " + std::to_string(crop));
  need(precision != Precision::FP16, "--precision must be fp32 or bf16, got 'fp16' (dsmix-train runs no GradScaler)");
  need(num_workers > 0 && log_every > 0 && eval_every > 0, "--num_workers, --log_every and --eval_every must be positive");
  need(!project_dir.empty(), "--project_dir must not be empty");
  if (stage == DsmixStage::DSM || stage == DsmixStage::QEP) {
    const int sources = int(!kadis_root.empty()) + int(!distorted_csv.empty()) + int(!references.empty());
    need(sources == 1, std::string("--stage ") + choice_name(stage) + " needs exactly one of --kadis_root, --distorted_csv, --references (got " +
                           std::to_string(sources) + ")");
    need(distorted_csv.empty() || !reference_dir.empty(), "--distorted_csv needs --reference_dir (iqa-distort's --input)");
    for (int t : types) need(t >= 1 && t <= 25, "--types: " + std::to_string(t) + " is not a KADID type (1..25)");
    need(types_per_image >= 1, "--types_per_image must be >= 1");
    need(holdout >= 0 && holdout < 1, "--holdout must be in [0, 1)");
  }
  if (stage == DsmixStage::QEP) {
    need(!dsm_checkpoint.empty() || mix == 1, "--stage qep needs --dsm_checkpoint (the stage-1 predictor), unless --mix 1");
    need(mix >= 1, "--mix must be >= 1");
    need(kd_alpha >= 0 && kd_beta >= 0, "--kd_alpha and --kd_beta must be >= 0");
    need(images_per_reference >= 1, "--images_per_reference must be >= 1");
    need(momentum >= 0 && momentum < 1, "--momentum must be in [0, 1)");
    need(lr_step >= 1 && lr_gamma > 0, "--lr_step must be >= 1 and --lr_gamma positive");
  }
  if (stage == DsmixStage::LP) {
    need(!dataset.empty(), "--stage lp needs --dataset (a registry name or a listing .json)");
    need(splits >= 1, "--splits must be >= 1");
    need(train_fraction > 0 && train_fraction < 1, "--train_fraction must be in (0, 1)");
  }
  throw_config_problems("dsmix-train", problems);
}

std::string DsmixConfig::to_json() const {
  return fields_to_json(*this, [](DsmixConfig& c, auto&& f) { for_each_field(c, f); });
}

DsmixConfig DsmixConfig::from_json(const std::string& text) {
  return fields_from_json<DsmixConfig>(text, "dsmix config.json", [](DsmixConfig& c, auto&& f) { for_each_field(c, f); });
}

bool DsmixConfig::use_channels_last() const {
  if (channels_last != ChannelsLast::Auto) return channels_last == ChannelsLast::On;
  return device == DeviceChoice::CUDA || (device == DeviceChoice::Auto && cuda::available());
}

std::map<std::string, std::string> DsmixConfig::to_string_map() const { return json_string_map(to_json()); }

}  // namespace iqa::training
