// CLIP text tower pieces: causal attention, the text block, token embedding.
#include "models/clip_text.h"

#include <cmath>

#include "engine/amp.h"
#include "engine/autograd.h"

namespace iqa::models {

std::string CLIPTextConfig::str() const {
  return cat("CLIPText(vocab ", vocab_size, ", context ", context_length, ", width ", width, ", layers ", layers,
             ", heads ", heads, ", out ", output_dim, ")");
}

Tensor CausalSelfAttention::forward(const Tensor& x) {
  IQA_CHECK(x.dim() == 3 && x.size(2) == width, "CausalSelfAttention: input ", x.str(), " must be [B, S, ", width, "]");
  const int64_t B = x.size(0), S = x.size(1), D = width / heads;
  Tensor qkv = linear(amp::autocast(x), amp::autocast(in_proj_weight), amp::autocast(in_proj_bias));
  Tensor split = qkv.view({B, S, 3, heads, D}).permute({2, 0, 3, 1, 4});  // [3, B, H, S, D]
  // open_clip's build_causal_mask (an additive -inf upper triangle) is the fused op's causal flag.
  Tensor o = scaled_dot_product_attention(split.select(0, 0), split.select(0, 1), split.select(0, 2),
                                          1.0 / std::sqrt(double(D)), /*causal=*/true);  // [B, H, S, D]
  return out_proj->forward(o.permute({0, 2, 1, 3}).reshape({B, S, width}));
}

TextResidualBlock::TextResidualBlock(const CLIPTextConfig& cfg) {
  ln_1 = register_module("ln_1", std::make_shared<LayerNorm>(cfg.width, cfg.ln_eps));
  attn = register_module("attn", std::make_shared<CausalSelfAttention>(cfg.width, cfg.heads));
  ln_2 = register_module("ln_2", std::make_shared<LayerNorm>(cfg.width, cfg.ln_eps));
  mlp = register_module("mlp", std::make_shared<CLIPMlp>(cfg.width, cfg.width * cfg.mlp_ratio, cfg.activation));
}

Tensor TextResidualBlock::forward(const Tensor& x) {
  Tensor h = add(x, attn->forward(ln_1->forward(x)));
  return add(h, mlp->forward(ln_2->forward(h)));
}

TextTransformer::TextTransformer(const CLIPTextConfig& cfg) {
  resblocks = register_module("resblocks", std::make_shared<Sequential>());
  for (int64_t i = 0; i < cfg.layers; ++i) resblocks->push_back(std::make_shared<TextResidualBlock>(cfg));
}

TokenEmbedding::TokenEmbedding(int64_t num, int64_t dim) {
  NoGradGuard ng;
  weight = register_parameter("weight", mul(Tensor::randn({num, dim}), 0.02));  // OpenCLIP's init std
}

Tensor TokenEmbedding::forward(const Tensor& ids) {
  IQA_CHECK(ids.dtype() == DType::I64 || ids.dtype() == DType::I32, "TokenEmbedding: ids ", ids.str(),
            " must be integer");
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  return index_select(weight, 0, ids.reshape({ids.numel()}).to(weight.device())).view(out_shape);
}

std::vector<int64_t> end_token_positions(const Tensor& tokens) {
  IQA_CHECK(tokens.dim() == 2 && tokens.size(1) > 0, "CLIP text: tokens ", tokens.str(), " must be [B, S]");
  const std::vector<int64_t> ids = tokens.cpu().to(DType::I64).to_vector_i64();
  const int64_t B = tokens.size(0), S = tokens.size(1);
  std::vector<int64_t> pos(size_t(B), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 1; s < S; ++s)
      if (ids[size_t(b * S + s)] > ids[size_t(b * S + pos[size_t(b)])]) pos[size_t(b)] = s;
  return pos;
}

}  // namespace iqa::models
