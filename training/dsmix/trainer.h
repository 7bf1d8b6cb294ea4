// dsmix-train's three stages (shared/spec/dsmix.md §5-§9), each a function of a DsmixConfig that
// trains in cfg.project_dir in the shared epoch loop (training/epoch_loop.h, training/dsmix/loop.h):
//   train_dsm  stage 1: the sensitivity-map predictor (ViT-B/8 without CLS + token-wise MLP decoder),
//              MSE against AvgPool_8(mean_c |I_D - I_R|), AdamP, cosine lr; reports held-out map error.
//   train_qep  stage 2: the quality encoder (ResNet-50 + type/level heads) on DSMix-augmented batches
//              with soft-target cross-entropy, plus semantic distillation from a frozen ImageNet
//              ResNet-50 on the pristine samples; SGD, StepLR; reports held-out type/level accuracy and
//              writes <project_dir>/encoder.safetensors (torchvision names: sind-train's resnet50
//              --pretrained loads it).
//   train_lp   stage 3: the frozen encoder + an MLP regression head, Smooth-L1, AdamW, cosine lr,
//              random flip + crop for training, the mean of 5 crops for testing, --splits random 80/20
//              splits (by reference content for synthetic sets) in <project_dir>/split_<i>; medians.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "training/dsmix/config.h"
#include "training/dsmix/loop.h"

namespace iqa::training {

// Each resolves and validates cfg first. hooks as sind-train's (tests inject losses and stops).
StageResult train_dsm(const DsmixConfig& cfg, const TrainHooks& hooks = {});
StageResult train_qep(const DsmixConfig& cfg, const TrainHooks& hooks = {});
StageResult train_lp(const DsmixConfig& cfg, const TrainHooks& hooks = {});
// Dispatches on cfg.stage.
StageResult run_dsmix_stage(const DsmixConfig& cfg, const TrainHooks& hooks = {});

}  // namespace iqa::training
