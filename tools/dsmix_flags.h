// dsmix-train's command line, registered here rather than in its main so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the tool does, without training anything.
// Choices the paper leaves open ([?] in the spec) are marked "[unknown]" in --help with the default taken.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "engine/error.h"
#include "tools/cli_choice.h"
#include "training/dsmix/config.h"
#include "training/data/loader.h"  // DecodeMode and its spellings

namespace iqa::training {

struct DsmixArgs {
  DsmixConfig c;
  std::string channels_last = choice_name(c.channels_last);  // a flag with an optional value
  iqa::DecodeMode decode = iqa::DecodeMode::Exact;
};

inline void add_dsmix_flags(CLI::App& app, DsmixArgs& a) {
  DsmixConfig& c = a.c;
  add_choice(app, "--stage", c.stage, "dsm | qep | lp");
  app.add_flag("--demo", c.demo, "all three stages on synthetic data with tiny networks (CPU, a few minutes)");
  app.add_option("--project_dir", c.project_dir, "run directory (train.log, metrics.jsonl, config.json, curves.svg, checkpoints/)")
      ->capture_default_str();
  app.add_option("--epochs", c.epochs, "0 = the stage's default: dsm 10, qep 120, lp 100 (LIVE, CSIQ, CLIVE) / 200 (TID2013, KADID, KonIQ, FLIVE)");
  app.add_option("--batch_size", c.batch_size, "per GPU; 0 = dsm 40, qep 110, lp 64");
  app.add_option("--lr", c.lr, "0 = dsm 5e-3 (cosine), qep 0.01 (x lr_gamma every lr_step epochs), lp 7e-4 (cosine)");
  app.add_option("--weight_decay", c.weight_decay, "-1 = dsm 1e-4 (AdamP), qep 1e-4 (SGD), lp 0.01 (AdamW)");
  app.add_option("--crop", c.crop, "training crop (the DSM grid is crop/8)")->capture_default_str();
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_option("--resume", c.resume, "checkpoint path, or 'auto' (<project_dir>/checkpoints/last.safetensors)");
  add_choice(app, "--device", c.device, "auto | cpu | cuda");
  add_choice(app, "--precision", c.precision, "fp32 | bf16 (autocast, CUDA only)");
  app.add_option("--num_workers", c.num_workers, "loader threads")->capture_default_str();
  app.add_option("--cache_dir", c.cache_dir,
                 "lp: decoded-image cache folder (\"auto\": <project_dir>/view_cache); empty = off");
  app.add_option("--log_every", c.log_every, "steps between metrics.jsonl step lines")->capture_default_str();
  app.add_option("--eval_every", c.eval_every, "epochs between held-out / test evaluations (and after the last)")->capture_default_str();
  // data for dsm / qep
  app.add_option("--kadis_root", c.kadis_root, "KADIS-700k: kadis700k_ref_imgs.csv, ref_imgs/, dist_imgs/<name>_<tt>_<ll>.bmp");
  add_choice(app, "--kadis_type8", c.kadis_type8,
                 "with-type8 (type 8 where dist_type_2 == 8, all 25 types) | literal (the official script: column 2 only, no type 8)");
  app.add_option("--distorted_csv", c.distorted_csv, "iqa-distort's distortions.csv");
  app.add_option("--reference_dir", c.reference_dir, "the references of --distorted_csv (iqa-distort's --input)");
  app.add_option("--references", c.references, "a folder of reference images, distorted on the fly");
  app.add_option("--types", c.types, "on the fly: distortion types to draw from (default all 25)");
  app.add_option("--types_per_image", c.types_per_image, "on the fly: types per reference, each at 5 levels (KADIS: 1)")
      ->capture_default_str();
  app.add_option("--holdout", c.holdout, "fraction of references held out for map error / accuracy (0: none, no evaluation)")->capture_default_str();
  // models
  add_choice(app, "--dsm_model", c.dsm_model, "vit-b8 (ViT-B/8 without CLS, random init [unknown]) | tiny");
  add_choice(app, "--qe_model", c.qe_model, "resnet50 (random init [unknown]) | tiny");
  app.add_flag("--channels_last{on}", a.channels_last,
               "run the ResNets NHWC (cuDNN channels-last convolutions): --channels_last or --channels_last=on|off; "
               "default auto = on when the device is CUDA, off on the CPU")
      ->capture_default_str();
  // qep
  app.add_option("--dsm_checkpoint", c.dsm_checkpoint, "stage-1 checkpoint: the frozen predictor that weights DSMix labels");
  app.add_option("--mix", c.mix, "images per mixed sample (1 = no DSMix)")->capture_default_str();
  app.add_flag("--random_box_count", c.random_box_count,
               "[unknown] boxes per sample uniform in {0..mix-1} instead of exactly mix-1 (default)");
  add_choice(app, "--label_space", c.label_space,
                 "[unknown] two-heads (default: 26 types + 6 levels, CE summed) | joint (one 126-way head)");
  app.add_option("--teacher", c.teacher, "torchvision ImageNet ResNet-50 safetensors for distillation (none: KD off)");
  app.add_option("--kd_alpha", c.kd_alpha, "[unknown] weight of sum over layer1..4 of MAE")->capture_default_str();
  app.add_option("--kd_beta", c.kd_beta,
                 "[unknown] weight of sum over layer1..4 of cosine distance (cosine along channels per location, averaged)")
      ->capture_default_str();
  app.add_option("--images_per_reference", c.images_per_reference,
                 "[unknown batch composition] at most this many same-reference samples side by side in a batch (mixing partners share a reference); every sample once per epoch, no padding")
      ->capture_default_str();
  app.add_option("--momentum", c.momentum, "SGD momentum (stage qep)")->capture_default_str();
  add_choice(app, "--qep_optimizer", c.qep_optimizer,
                 "stage qep: sgd (the paper's recipe) | adamw (a demo / small-model option: same --lr, --weight_decay "
                 "and StepLR; small from-scratch ResNets learn the labels faster with it)");
  app.add_option("--lr_step", c.lr_step, "StepLR step (epochs)")->capture_default_str();
  app.add_option("--lr_gamma", c.lr_gamma, "StepLR factor")->capture_default_str();
  // lp
  app.add_option("--encoder", c.encoder, "stage-2 encoder.safetensors or qep checkpoint (none: random init, a baseline)");
  app.add_option("--dataset", c.dataset, "registry name (<json_root>/all/<name>.json) or a listing .json");
  app.add_option("--data_root", c.data_root)->capture_default_str();
  app.add_option("--json_root", c.json_root, "tools/make-splits output")->capture_default_str();
  app.add_option("--splits", c.splits, "random train/test splits (medians reported)")->capture_default_str();
  app.add_option("--train_fraction", c.train_fraction)->capture_default_str();
  add_choice(app, "--score_norm", c.score_norm,
                 "[unknown] regression targets from the training split: zscore (default) | minmax | none (Smooth-L1 on "
                 "the raw MOS, as the paper's setting implies)");
  // Every stage crops at the image's own resolution (no resize), so each image is decoded fully: the
  // reference's pixels. A DCT-scaled decode would change the crops' scale, hence no "fast" here.
  add_choice(app, "--decode", a.decode, "exact (full decode, the only mode: crops are taken at native resolution)");
}

// What the parse alone cannot check or convert; throws iqa::Error.
inline void finish_dsmix_args(DsmixArgs& a, const CLI::App& app) {
  IQA_CHECK(a.decode == iqa::DecodeMode::Exact, "--decode fast: dsmix-train crops at the image's own resolution, so a "
            "DCT-scaled decode would change what a crop shows; every stage decodes fully (--decode exact)");
  if (app.count("--channels_last")) a.c.channels_last = parse_choice<ChannelsLast>(a.channels_last);
}

}  // namespace iqa::training
