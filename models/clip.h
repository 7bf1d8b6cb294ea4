// A whole CLIP (both towers and the logit scale) in OpenCLIP / OpenAI state-dict names, so their
// checkpoints (exported as safetensors) load by name: visual.* (models/clip_vit.h), the text tower at
// the top level (models/clip_text.h) and logit_scale [] (the log of the softmax temperature's inverse).
// logits_per_image = exp(logit_scale) * normalise(image_features) @ normalise(text_features)^T.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "engine/nn.h"
#include "models/clip_text.h"
#include "models/clip_vit.h"

namespace iqa::models {

struct CLIPConfig {
  VisionTransformerConfig vision = VisionTransformerConfig::vit_b32();
  CLIPTextConfig text = CLIPTextConfig::vit_b();
  std::string str() const { return vision.str() + " + " + text.str(); }
  // What scene labelling uses (shared/spec/sind.md §5.3) and what SIND fine-tunes.
  static CLIPConfig vit_b32();
  static CLIPConfig vit_b16();
  // The config a state dict in OpenCLIP names describes, read from its shapes the way OpenAI's
  // build_model_from_openai_state_dict does (heads = width / 64, at least 1). Throws iqa::Error naming
  // `source` and the missing tensor when the dict is not a CLIP.
  static CLIPConfig from_state_dict(const std::map<std::string, Tensor>& state, const std::string& source);
};

class CLIPModel : public Module {
 public:
  explicit CLIPModel(const CLIPConfig& cfg);
  std::string type_name() const override { return "CLIP"; }
  // tokens: i64 [B, context_length] -> [B, text.output_dim], not normalised.
  Tensor encode_text(const Tensor& tokens);
  // images: [B, 3, S, S] -> [B, vision.output_dim], not normalised.
  Tensor encode_image(const Tensor& images) { return visual->forward(images); }
  // [images, texts] scaled cosine similarities from features as encode_* return them.
  Tensor logits_per_image(const Tensor& image_features, const Tensor& text_features);

  CLIPConfig config;
  std::shared_ptr<VisionTransformer> visual;
  std::shared_ptr<TokenEmbedding> token_embedding;
  Tensor positional_embedding, text_projection, logit_scale;
  std::shared_ptr<TextTransformer> transformer;
  std::shared_ptr<LayerNorm> ln_final;
};

// Rows scaled to unit L2 norm.
Tensor l2_normalize_rows(const Tensor& x);

}  // namespace iqa::models
