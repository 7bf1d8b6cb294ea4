// Building the SIND model a configuration names (--clip_model, --local_global, --all_global,
// --pretrained) and splitting its parameters into the reference's two optimizer groups.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/sind.h"
#include "training/sind/config.h"

namespace iqa::training {

// ViT-B-16: OpenAI CLIP B/16; ViT-B-8: the same with 8x8 patches (784 tokens + CLS); resnet50:
// SimpleResNet; tiny: a 2-layer width-64 CLIP ViT with 32x32 patches at 224² (one token per mosaic
// mini-patch), for tests and the CPU demo. local_global picks LocalGlobalClipIQA, else SimpleClip.
// Parameters are drawn from the default generator (seed it first for a reproducible run).
std::shared_ptr<models::QualityModel> make_sind_model(const SindConfig& cfg);

// Loads --pretrained: a whole SIND model (this project's or the reference's names) when the file
// holds head weights, else the backbone (CLIP or torchvision naming). Returns the load summary.
std::string load_sind_pretrained(models::QualityModel& model, const SindConfig& cfg);

// The reference's groups: [0] the backbone ("clip_model.*"), [1] the head.
struct ParamSplit {
  std::vector<Tensor> backbone, head;
};
ParamSplit split_sind_parameters(const models::QualityModel& model);

}  // namespace iqa::training
