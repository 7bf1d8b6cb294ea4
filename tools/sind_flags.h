// sind-train's command line: every flag registered once, under the reference's names
// (train_test_IQA.py's argparse) where it has one, and this project's additions. Kept in a header so
// that the tests parse the reference's README commands through exactly these flags.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "tools/cli_choice.h"
#include "training/sind/config.h"

namespace iqa::training {

// The reference's --mixed_precision (Accelerate's values) onto --precision.
inline Precision precision_of_mixed(const std::string& v) {
  if (v == "no") return Precision::FP32;
  if (v == "fp16") return Precision::FP16;
  if (v == "bf16") return Precision::BF16;
  throw CLI::ValidationError("--mixed_precision", "must be no, fp16 or bf16, got '" + v + "'");
}

inline void add_sind_flags(CLI::App& app, SindConfig& c) {
  app.add_option_function<std::string>(
         "--clip_model",
         [&c](const std::string& v) {
           try {
             c.clip_model = canonical_clip_model(v);
           } catch (const Error& e) {
             throw CLI::ValidationError("--clip_model", e.what());
           }
         },
         clip_model_spellings() + " (openai/ViT-B-16 and ViT-B-16-quickgelu are ViT-B-16)")
      ->default_str(choice_name(c.clip_model));
  app.add_option("--pretrained", c.pretrained,
                 "backbone or whole-model weights (safetensors); default: ./weights/clip_vit_b16, clip_vit_b8 or resnet50.safetensors if present");
  app.add_flag("--from_scratch", c.from_scratch, "ViT-B-16 / ViT-B-8 / resnet50 from random weights (no --pretrained)");
  app.add_flag("--clip_freeze", c.clip_freeze, "freeze the backbone: only the head trains");
  app.add_option("--ema_decay", c.ema_decay)->capture_default_str();
  app.add_option("--input_size", c.input_size, "crop size (224, the only size the models take)")->capture_default_str();
  app.add_option("--epochs", c.epochs, "epochs (the loop runs epochs + 1 times, as the reference)")->capture_default_str();
  app.add_option("--lr", c.lr, "head lr; backbone lr = lr / lr_ratio")->capture_default_str();
  app.add_option("--lr_ratio", c.lr_ratio)->capture_default_str();
  app.add_option("--warmup_epoch", c.warmup_epoch)->capture_default_str();
  app.add_option("--weight_decay", c.weight_decay, "coupled L2 (Adam)")->capture_default_str();
  app.add_option("--batch_size", c.batch_size, "per GPU")->capture_default_str();
  app.add_flag("--local_global", c.local_global, "token-complementary patch reasoning (LocalGlobalClipIQA)");
  app.add_flag("--all_global", c.all_global, "ablation: local branch uses the projected CLS");
  add_choice(app, "--loss_type", c.loss_type, "scale_shift | l1");
  app.add_option("--scene_sampling", c.scene_sampling, "scenes per GPU batch (0: no scene sampling)")->capture_default_str();
  app.add_option("--project_dir", c.project_dir)->capture_default_str();
  app.add_option("--train_dataset", c.train_dataset, "dataset names or data_json paths");
  app.add_option("--test_dataset", c.test_dataset, "dataset names or data_json paths");
  add_choice(app, "--exp_type", c.exp_type, "leave-one-out | cross-set | random-split");
  app.add_flag("--dataset_domain", c.dataset_domain, "domain = dataset instead of scene (cross-set, random-split)");
  app.add_option("--data_root", c.data_root)->capture_default_str();
  app.add_option("--json_root,--json_dir", c.json_root, "tools/make-splits output (--json_dir: the reference's name)")
      ->capture_default_str();
  app.add_option("--eval_every", c.eval_every,
                 "epochs between evaluations; 0: the reference's (5 for leave-one-out and random-split, 1 for cross-set)")
      ->capture_default_str();
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_option("--resume,--resume_from", c.resume,
                 "checkpoint path, or 'auto' (<project_dir>/.../checkpoints/last.safetensors); --resume_from: the "
                 "reference's name (commented out in its code, so it did nothing there)");
  app.add_option("--load_from", c.load_from,
                 "a trained model's weights only (a sind-train checkpoint's EMA weights, or a reference .pth exported "
                 "by tools/export_weights.py); optimizer, schedule and epochs start afresh");
  app.add_option("--start_epoch", c.start_epoch, "the reference's; only 0 (see --resume and --load_from)")
      ->capture_default_str();
  CLI::Option* precision = add_choice(app, "--precision", c.precision, "fp32 | bf16 | fp16");
  app.add_option_function<std::string>(
         "--mixed_precision", [&c](const std::string& v) { c.precision = precision_of_mixed(v); },
         "the reference's name: no (fp32) | fp16 | bf16")
      ->excludes(precision);
  app.add_option("--num_workers", c.num_workers)->capture_default_str();
  // --local_view sets both; the specific flags, registered after it, override it (CLI11 runs option
  // callbacks in registration order).
  app.add_option_function<std::string>(
         "--local_view",
         [&c](const std::string& text) {
           try {
             c.local_view = c.test_local_view = parse_choice<LocalViewMode>(text);
           } catch (const Error& e) {
             throw CLI::ValidationError("--local_view", e.what());
           }
         },
         "mosaic | same-crop, for training and testing (the paper: mosaic; the reference's code at HEAD: same-crop for "
         "both, the mosaic only in its test script)")
      ->default_str(choice_name(c.local_view));
  add_choice(app, "--train_local_view", c.local_view, "the training batches' local view: mosaic | same-crop");
  add_choice(app, "--test_local_view", c.test_local_view, "the evaluations' (test, val) local view: mosaic | same-crop");
  app.add_option("--resize", c.resize, "256 | 244")->capture_default_str();
  add_choice(app, "--bad-image", c.bad_image, "fail | skip");
  add_choice(app, "--decode", c.decode, "exact (full decode, the reference's pixels) | fast (DCT-scaled big JPEGs)");
  app.add_option("--cache_dir", c.cache_dir,
                 "decoded-view cache folder (\"auto\": <project_dir>/view_cache); empty = off");
  add_choice(app, "--device", c.device, "auto | cpu | cuda");
  app.add_option("--log_every", c.log_every, "steps between metrics.jsonl step lines")->capture_default_str();
  app.add_option("--splits", c.splits, "random-split: number of splits")->capture_default_str();
  app.add_flag("--demo", c.demo, "generate a synthetic set and run a short demo (other flags override it)");
}

}  // namespace iqa::training
