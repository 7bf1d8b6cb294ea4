// sind-train: trains and evaluates SIND (shared/spec/sind.md) with the reference's flags; see
// training/sind/config.h for their meanings and training/sind/protocols.h for the experiment types.
//   sind-train --demo                      a synthetic scene-structured set and a short CPU run
//   sind-train --clip_model ViT-B-16 --pretrained clip.safetensors --local_global --loss_type scale_shift \
//              --scene_sampling 2 --train_dataset spaq --test_dataset spaq --exp_type leave-one-out ...
#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/error.h"
#include "tools/cli_choice.h"
#include "training/sind/protocols.h"
#include "training/run_log.h"
#include "training/sind/config.h"
#include "training/sind/demo.h"

using namespace iqa::training;

namespace {

// Every flag, registered once: main parses onto the defaults, and --demo parses again onto the
// demo's defaults so that the flags given explicitly override them.
void add_flags(CLI::App& app, SindConfig& c) {
  app.add_option("--clip_model", c.clip_model, "ViT-B-16 | ViT-B-8 | resnet50 | tiny | tiny16")->capture_default_str();
  app.add_option("--pretrained", c.pretrained, "backbone or whole-model weights (safetensors)");
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
  app.add_flag("--dataset_domain", c.dataset_domain, "domain = dataset instead of scene");
  app.add_option("--data_root", c.data_root)->capture_default_str();
  app.add_option("--json_root", c.json_root, "tools/make-splits output")->capture_default_str();
  app.add_option("--eval_every", c.eval_every,
                 "epochs between evaluations; 0: the reference's (5 for leave-one-out and random-split, 1 for cross-set)")
      ->capture_default_str();
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_option("--resume", c.resume, "checkpoint path, or 'auto' (<project_dir>/.../checkpoints/last.safetensors)");
  add_choice(app, "--precision", c.precision, "fp32 | bf16 | fp16");
  app.add_option("--num_workers", c.num_workers)->capture_default_str();
  // --local_view sets both; the specific flags, registered after it, override it (CLI11 runs option
  // callbacks in registration order).
  app.add_option_function<std::string>(
         "--local_view",
         [&c](const std::string& text) {
           try {
             c.local_view = c.test_local_view = parse_choice<iqa::LocalViewMode>(text);
           } catch (const iqa::Error& e) {
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sind-train: SIND training and evaluation (leave-one-out, cross-set, random-split)"};
  SindConfig c;
  add_flags(app, c);
  CLI11_PARSE(app, argc, argv);

  try {
    install_stop_handlers();
    if (c.demo) {
      // The demo's defaults, then any flag given explicitly on the command line.
      SindConfig d = demo_config(app.count("--project_dir") ? c.project_dir : "demo-run");
      CLI::App again{"demo"};
      add_flags(again, d);
      again.parse(argc, argv);
      d.validate();
      return run_demo(d);
    }
    c.validate();
    ProtocolSummary s = run_protocol(c, plan_protocol(c));
    for (const auto& l : s.lines) std::cout << l << "\n";
    return s.interrupted ? 130 : 0;
  } catch (const iqa::Error& e) {
    std::cerr << "sind-train: " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sind-train: " << e.what() << std::endl;
    return 1;
  }
}
