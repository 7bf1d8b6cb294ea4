// Loading pretrained weights written by other frameworks (as safetensors; tools/export_weights.py
// converts PyTorch pickles). Each naming is translated into this project's names, then loaded with
// one check that collects every problem:
//   OpenCLIP / OpenAI CLIP: "visual.conv1.weight", "visual.transformer.resblocks.N.attn.in_proj_weight", ...
//     (the text tower and logit_scale are skipped, not errors);
//   Hugging Face CLIPVisionModel / CLIPModel: "vision_model.embeddings.patch_embedding.weight",
//     "vision_model.pre_layrnorm.*" (sic), "vision_model.encoder.layers.N.self_attn.{q,k,v}_proj.*"
//     (merged into in_proj), "visual_projection.weight" ([out, W], transposed into proj [W, out]);
//   torchvision ResNet: native names ("fc.*" skipped when the model has no fc);
//   SIND reference checkpoints (state dict of LocalGlobalClipIQA / SimpleClip / SimpleResNet).
// A leading "module." (DDP / accelerate wrappers) is stripped everywhere.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "models/clip_vit.h"
#include "models/resnet.h"
#include "models/sind.h"

namespace iqa::models {

using TensorMap = std::map<std::string, Tensor>;

enum class WeightNaming { Auto, Native, OpenCLIP, HuggingFaceCLIP, Torchvision, SindReference };
const char* weight_naming_name(WeightNaming n);
WeightNaming parse_weight_naming(const std::string& s);  // "auto", "native", "openclip", "hf", "torchvision", "sind"

struct LoadReport {
  std::string source;                   // file or description, for messages
  std::vector<std::string> loaded;      // model names that received a value
  std::vector<std::string> missing;     // model names the checkpoint lacks
  std::vector<std::string> unexpected;  // checkpoint names the model does not have
  std::vector<std::string> mis_shaped;  // "name (checkpoint [..], model [..])"
  std::vector<std::string> skipped;     // checkpoint names deliberately ignored (e.g. the text tower)
  bool clean() const { return missing.empty() && unexpected.empty() && mis_shaped.empty(); }
  // One line listing every problem (and the counts of loaded / skipped tensors).
  std::string summary() const;
};

// Copies `state` (already in the model's names) into `model`. strict: any missing, unexpected or
// mis-shaped tensor throws one iqa::Error listing them all and nothing is copied. Non-strict: the
// good tensors are copied and the problems are only reported.
LoadReport load_weights(Module& model, const TensorMap& state, bool strict, const std::string& source = "checkpoint",
                        std::vector<std::string> skipped = {});

// Name translations (no loading). `skipped` receives the names dropped on purpose. Unrecognised
// names pass through unchanged, so the load reports them as unexpected.
TensorMap clip_visual_from_openclip(const TensorMap& ckpt, std::vector<std::string>* skipped = nullptr);
TensorMap clip_visual_from_huggingface(const TensorMap& ckpt, std::vector<std::string>* skipped = nullptr);
TensorMap strip_module_prefix(const TensorMap& ckpt);
// A whole CLIP (models/clip.h) from Hugging Face CLIPModel names into OpenCLIP's: vision_model.* as
// clip_visual_from_huggingface under "visual.", text_model.* (token_embedding, position_embedding,
// encoder.layers.N with q/k/v merged, final_layer_norm -> ln_final), text_projection.weight transposed,
// logit_scale. position_ids buffers go to `skipped`.
TensorMap clip_from_huggingface(const TensorMap& ckpt, std::vector<std::string>* skipped = nullptr);
// Any CLIP checkpoint (OpenCLIP / OpenAI or Hugging Face names, detected) in OpenCLIP names.
TensorMap clip_in_openclip_names(const TensorMap& ckpt, std::vector<std::string>* skipped = nullptr);
// Which CLIP naming a checkpoint uses: HuggingFaceCLIP, OpenCLIP or Native.
WeightNaming detect_clip_naming(const TensorMap& ckpt);

// Pretrained CLIP visual tower from a checkpoint in any CLIP naming (Auto detects it).
LoadReport load_clip_visual(VisionTransformer& model, const TensorMap& ckpt, WeightNaming naming = WeightNaming::Auto,
                            bool strict = true, const std::string& source = "checkpoint");
// Pretrained torchvision ResNet (ImageNet weights carry fc.*, skipped when the model has none).
LoadReport load_torchvision_resnet(ResNet& model, const TensorMap& ckpt, bool strict = true,
                                   const std::string& source = "checkpoint");
// A whole SIND model from a reference-code state dict (text tower skipped; SimpleResNet's
// Sequential indices mapped to torchvision names) or from this project's own names.
LoadReport load_sind_reference(QualityModel& model, const TensorMap& ckpt, bool strict = true,
                               const std::string& source = "checkpoint");

// Reads a safetensors file and loads it with the given naming into `model`: Native and
// SindReference into any module (SindReference needs a QualityModel), CLIP namings into a
// VisionTransformer, Torchvision into a ResNet; Auto picks by the model's type and the file's names.
LoadReport load_pretrained(Module& model, const std::string& path, WeightNaming naming = WeightNaming::Auto,
                           bool strict = true);

}  // namespace iqa::models
