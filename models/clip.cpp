// CLIP: configs, the text forward, image-text logits.
#include "models/clip.h"

#include <cmath>

#include "engine/autograd.h"

namespace iqa::models {

CLIPConfig CLIPConfig::vit_b32() { return CLIPConfig{}; }

CLIPConfig CLIPConfig::vit_b16() {
  CLIPConfig c;
  c.vision = VisionTransformerConfig::vit_b16();
  return c;
}

CLIPConfig CLIPConfig::from_state_dict(const std::map<std::string, Tensor>& state, const std::string& source) {
  auto get = [&](const std::string& name) -> const Tensor& {
    auto it = state.find(name);
    IQA_CHECK(it != state.end(), source, ": not a CLIP checkpoint in OpenCLIP names (no ", name, ")");
    return it->second;
  };
  auto count_blocks = [&](const std::string& prefix) {
    int64_t n = 0;
    while (state.count(cat(prefix, n, ".ln_1.weight"))) ++n;
    return n;
  };
  CLIPConfig c;
  const Tensor& conv = get("visual.conv1.weight");          // [W, 3, p, p]
  const Tensor& vpos = get("visual.positional_embedding");  // [grid^2 + 1, W]
  c.vision.width = conv.size(0);
  c.vision.patch_size = conv.size(2);
  const auto grid = int64_t(std::lround(std::sqrt(double(vpos.size(0) - 1))));
  IQA_CHECK(grid * grid + 1 == vpos.size(0), source, ": visual.positional_embedding ", vpos.str(),
            " is not a square grid plus a class token");
  c.vision.image_size = grid * c.vision.patch_size;
  c.vision.layers = count_blocks("visual.transformer.resblocks.");
  c.vision.heads = std::max<int64_t>(1, c.vision.width / 64);
  c.vision.output_dim = get("visual.proj").size(1);
  const Tensor& emb = get("token_embedding.weight");  // [V, W]
  c.text.vocab_size = emb.size(0);
  c.text.width = emb.size(1);
  c.text.context_length = get("positional_embedding").size(0);
  c.text.layers = count_blocks("transformer.resblocks.");
  c.text.heads = std::max<int64_t>(1, c.text.width / 64);
  c.text.output_dim = get("text_projection").size(1);
  return c;
}

CLIPModel::CLIPModel(const CLIPConfig& cfg) : config(cfg) {
  const auto& t = cfg.text;
  IQA_CHECK(t.width > 0 && t.layers >= 0 && t.vocab_size > 0 && t.context_length > 0 && t.output_dim > 0,
            "CLIPModel: bad text config ", t.str());
  visual = register_module("visual", std::make_shared<VisionTransformer>(cfg.vision));
  token_embedding = register_module("token_embedding", std::make_shared<TokenEmbedding>(t.vocab_size, t.width));
  {
    NoGradGuard ng;  // OpenCLIP's init: positions N(0, 0.01^2), projection N(0, 1/width)
    positional_embedding =
        register_parameter("positional_embedding", mul(Tensor::randn({t.context_length, t.width}), 0.01));
    text_projection = register_parameter("text_projection",
                                         mul(Tensor::randn({t.width, t.output_dim}), 1.0 / std::sqrt(double(t.width))));
  }
  logit_scale = register_parameter("logit_scale", Tensor::scalar(std::log(1 / 0.07)));
  transformer = register_module("transformer", std::make_shared<TextTransformer>(t));
  ln_final = register_module("ln_final", std::make_shared<LayerNorm>(t.width, t.ln_eps));
}

Tensor CLIPModel::encode_text(const Tensor& tokens) {
  const auto& t = config.text;
  IQA_CHECK(tokens.dim() == 2 && tokens.size(1) == t.context_length, "CLIPModel: tokens ", tokens.str(),
            " must be [B, ", t.context_length, "]");
  const int64_t B = tokens.size(0), S = t.context_length;
  Tensor x = add(token_embedding->forward(tokens), positional_embedding);
  x = ln_final->forward(transformer->forward(x));
  // The end token's row of each sequence (open_clip: x[arange(B), tokens.argmax(-1)]).
  std::vector<int64_t> rows = end_token_positions(tokens);
  for (int64_t b = 0; b < B; ++b) rows[size_t(b)] += b * S;
  Tensor pooled = index_select(x.reshape({B * S, t.width}), 0, Tensor::from_vector_i64(rows, {B}).to(x.device()));
  return matmul(pooled, text_projection);
}

Tensor l2_normalize_rows(const Tensor& x) { return div(x, sqrt(sum(mul(x, x), {-1}, true))); }

Tensor CLIPModel::logits_per_image(const Tensor& image_features, const Tensor& text_features) {
  return mul(matmul(l2_normalize_rows(image_features), l2_normalize_rows(text_features).transpose(0, 1)),
             exp(logit_scale));
}

}  // namespace iqa::models
