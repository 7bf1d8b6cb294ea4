// The reference's --load_from: a whole trained model's weights put into the new model before training
// starts, nothing else (the optimizer, the schedule, the EMA and the epoch start afresh, as its
// IQASolver's load_state_dict before creating the optimizer). --resume is the flag that continues a run.
#pragma once
#include <memory>
#include <string>

#include "models/sind.h"
#include "training/sind/config.h"

namespace iqa::training {

// `path` is either a sind-train checkpoint (last.safetensors: its EMA weights, which are what the run
// evaluated; best / val-best.safetensors: the EMA weights they hold) or a reference state dict
// exported to safetensors by tools/export_weights.py. A PyTorch file (.pth/.pt/.bin) is an error
// saying how to convert it; a checkpoint of another model (--clip_model, --local_global,
// --all_global) is an error naming both. Returns what was loaded, for train.log.
std::string load_sind_weights_only(models::QualityModel& model, const SindConfig& cfg, const std::string& path);

// Throws, naming `flag`, when `path` is a PyTorch file (.pth/.pt/.bin) rather than safetensors, with the
// tools/export_weights.py line that converts it.
void require_safetensors(const std::string& flag, const std::string& path);

// The model the reference's test script builds (load_sind: ViT-B-16, LocalGlobalClipIQA, evaluated
// with the mosaic local view at resize 256) with a reference state dict exported to safetensors: what
// tools/sind-score scores with when --model_path is not a sind-train checkpoint. No calibration.
// `cfg` receives that model's settings.
std::shared_ptr<models::QualityModel> reference_test_model(const std::string& path, SindConfig& cfg);

}  // namespace iqa::training
