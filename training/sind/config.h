// The configuration of a SIND training run: the reference's command-line flags with their names and
// meanings (shared/seeds/sind-readme.md, shared/spec/sind.md §4-5), plus this project's additions
// (--precision, --local_view, --resize, --bad-image, --demo). tools/sind-train.cpp maps CLI11 flags
// onto this struct; it is written to <project_dir>/config.json and into every checkpoint.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "training/choice.h"
#include "training/data/loader.h"  // LocalViewMode, BadImagePolicy, DecodeMode and their spellings

namespace iqa::training {

// The backbones: OpenAI CLIP ViT-B/16 and ViT-B/8 (no CLS), torchvision's ResNet-50, and two test-sized
// ViTs (32- and 16-pixel patches). The CLI also takes the reference's spellings (canonical_clip_model).
enum class ClipModel { ViTB16, ViTB8, ResNet50, Tiny, Tiny16 };
IQA_CHOICE_SPELLINGS(ClipModel, "--clip_model",
                     {ClipModel::ViTB16, "ViT-B-16"}, {ClipModel::ViTB8, "ViT-B-8"}, {ClipModel::ResNet50, "resnet50"},
                     {ClipModel::Tiny, "tiny"}, {ClipModel::Tiny16, "tiny16"});

enum class LossType { ScaleShift, L1 };
IQA_CHOICE_SPELLINGS(LossType, "--loss_type", {LossType::ScaleShift, "scale_shift"}, {LossType::L1, "l1"});

enum class Protocol { LeaveOneOut, CrossSet, RandomSplit };  // --exp_type
IQA_CHOICE_SPELLINGS(Protocol, "--exp_type",
                     {Protocol::LeaveOneOut, "leave-one-out"}, {Protocol::CrossSet, "cross-set"}, {Protocol::RandomSplit, "random-split"});

struct SindConfig {
  ClipModel clip_model = ClipModel::ViTB16;  // ViT-B-16 | ViT-B-8 | resnet50 | tiny | tiny16
  std::string pretrained;               // safetensors of the backbone (CLIP / torchvision naming) or a whole model
  bool from_scratch = false;            // ViT-B-16 / ViT-B-8 / resnet50 without --pretrained: random init on purpose
  bool clip_freeze = false;             // the reference's --clip_freeze: the backbone is fixed, only the head trains
  double ema_decay = 0.99;              // the reference's --ema_decay (torch_ema, warm-up on the update count)
  int input_size = 224;                 // the reference's --input_size: crop size; must be the model's (224)
  int epochs = 35;                      // the loop runs epochs + 1 times, as the reference's range(0, epochs + 1)
  double lr = 1e-5;
  double lr_ratio = 1.0;                // backbone lr = lr / lr_ratio; head lr = lr
  int warmup_epoch = 5;
  double weight_decay = 1e-5;           // coupled L2 (torch.optim.Adam)
  int batch_size = 64;                  // per GPU
  bool local_global = false;            // LocalGlobalClipIQA; otherwise SimpleClip / SimpleResNet
  bool all_global = false;              // ablation: the local branch uses the projected CLS too
  // The reference's defaults (l1, 0: its "without alignment" baseline, which ablation_exp.sh runs by
  // leaving both flags out); every SIND command of its README gives scale_shift and 2.
  LossType loss_type = LossType::L1;    // scale_shift | l1
  int scene_sampling = 0;               // k scenes per GPU batch; 0 = ordinary shuffled batches
  std::string project_dir = "exp_log/debug";
  std::vector<std::string> train_dataset;  // registry names, or paths to data_json files
  std::vector<std::string> test_dataset;
  Protocol exp_type = Protocol::CrossSet;  // leave-one-out | cross-set | random-split
  bool dataset_domain = false;          // domain = dataset (domain_id / 100) instead of scene (SPAQ kept in cross-set)
  std::string data_root = "./data";
  std::string json_root = "./data_json";  // the layout tools/make-splits writes (the reference's --json_dir)
  int eval_every = 0;                   // evaluate after epoch t when t % eval_every == 0; 0: the reference's cadence (eval_cadence)
  uint64_t seed = 0;
  std::string resume;                   // checkpoint to continue from ("auto": <project_dir>/checkpoints/last.safetensors)
  std::string load_from;                // the reference's --load_from: a whole model's weights, then a fresh run (load_from.h)
  int start_epoch = 0;                  // the reference's --start_epoch; only 0 is accepted (validate says why)
  Precision precision = Precision::FP32;  // fp32 | bf16 | fp16 (autocast on CUDA; fp16 adds a GradScaler)
  int num_workers = 4;
  LocalViewMode local_view = LocalViewMode::Mosaic;  // training batches' local view: mosaic | same-crop (--train_local_view)
  LocalViewMode test_local_view = LocalViewMode::Mosaic;  // evaluation's (test and val) local view (--test_local_view)
  int resize = 256;                     // 256 (SIND HEAD) | 244 (2024 experiments)
  BadImagePolicy bad_image = BadImagePolicy::Fail;  // fail | skip
  // exact: full decode then resize, Pillow's pixels (the reference's); fast: DCT-scaled decode of big
  // JPEGs (training/data/loader.h gives the measured difference).
  DecodeMode decode = DecodeMode::Exact;
  std::string cache_dir;                // decoded-view cache (training/data/view_cache.h); empty = off
  DeviceChoice device = DeviceChoice::Auto;  // auto | cpu | cuda
  int log_every = 10;                   // optimizer steps between metrics.jsonl step lines
  int splits = 10;                      // random-split: how many splits to run
  bool demo = false;

  // Throws iqa::Error listing every invalid value (non-positive sizes, batch not
  // divisible by scene_sampling, scale_shift without scene sampling, missing datasets, a full-size
  // model without --pretrained or --from_scratch, an --input_size the model cannot take). The choices
  // are enums, checked where they are parsed (CLI, from_json: parse_choice lists the allowed values).
  void validate() const;
  // One JSON object (choices by their CLI spellings); from_json(to_json()) == *this. Unknown keys
  // and unknown choice values in the input are errors.
  std::string to_json() const;
  static SindConfig from_json(const std::string& text);
  // Flat string form for checkpoint metadata.
  std::map<std::string, std::string> to_string_map() const;
  bool operator==(const SindConfig&) const = default;
};

// The reference's --clip_model spellings (open_clip "<pretrained>/<model tag>": openai/ViT-B-16,
// ViT-B-16-quickgelu, ...; resnet50) mapped to this project's model names; a name that is already one
// is taken as it is. Throws listing the accepted spellings for anything else (ViT-L-14 among them:
// the reference maps it, but no reported run uses it and this project has no such model).
ClipModel canonical_clip_model(const std::string& name);
// The accepted spellings, for --help.
std::string clip_model_spellings();

// Where --pretrained is looked for when it is not given (the reference downloads the weights through
// open_clip / torchvision; this project reads a file tools/export_weights.py made):
// <weights_dir>/clip_vit_b16.safetensors, clip_vit_b8.safetensors, resnet50.safetensors. "" for the
// tiny models, which have no pretrained weights.
std::string default_weights_file(ClipModel clip_model, const std::string& weights_dir);
// Sets cfg.pretrained to default_weights_file when that is not given, the model wants weights,
// --from_scratch is off and the file exists.
void use_default_weights(SindConfig& cfg, const std::string& weights_dir);

}  // namespace iqa::training
