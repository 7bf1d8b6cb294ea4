// CLIP's text side in OpenAI/OpenCLIP layout: token embedding, learned positional embedding, a
// transformer of pre-LN blocks with causal self-attention, ln_final, pooling at the end-of-text token
// (the argmax of the token ids, as open_clip's pool_type 'argmax') and text_projection.
// The modules here are the text tower's pieces; models/clip.h puts them at OpenCLIP's top-level names:
//   token_embedding.weight [V, W], positional_embedding [C, W], transformer.resblocks.N.{ln_1,
//   attn.in_proj_weight/in_proj_bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_final.*,
//   text_projection [W, out].
#pragma once
#include <memory>
#include <string>

#include "engine/nn.h"
#include "models/clip_vit.h"

namespace iqa::models {

struct CLIPTextConfig {
  int64_t vocab_size = 49408;
  int64_t context_length = 77;
  int64_t width = 512;
  int64_t heads = 8;
  int64_t layers = 12;
  int64_t mlp_ratio = 4;
  int64_t output_dim = 512;  // columns of text_projection
  Activation activation = Activation::QuickGELU;
  double ln_eps = 1e-5;
  std::string str() const;
  // OpenAI CLIP's text tower (the same for ViT-B/32 and ViT-B/16).
  static CLIPTextConfig vit_b() { return CLIPTextConfig{}; }
};

// nn.MultiheadAttention self-attention (fused biased qkv, out_proj) with CLIP's causal mask: position i
// attends to positions <= i, through the fused attention op's causal flag (no S x S mask tensor).
class CausalSelfAttention : public CLIPAttention {
 public:
  using CLIPAttention::CLIPAttention;
  Tensor forward(const Tensor& x) override;  // [B, S, W] -> [B, S, W]
};

// x += attn(ln_1(x)); x += mlp(ln_2(x)), with causal attention.
class TextResidualBlock : public Module {
 public:
  explicit TextResidualBlock(const CLIPTextConfig& cfg);
  std::string type_name() const override { return "ResidualAttentionBlock"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<LayerNorm> ln_1, ln_2;
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<CLIPMlp> mlp;
};

// The blocks as "resblocks.N".
class TextTransformer : public Module {
 public:
  explicit TextTransformer(const CLIPTextConfig& cfg);
  std::string type_name() const override { return "Transformer"; }
  Tensor forward(const Tensor& x) override { return resblocks->forward(x); }
  std::shared_ptr<Sequential> resblocks;
};

// nn.Embedding: a [num, dim] "weight" looked up by integer ids.
class TokenEmbedding : public Module {
 public:
  TokenEmbedding(int64_t num, int64_t dim);
  std::string type_name() const override { return "Embedding"; }
  Tensor forward(const Tensor& ids) override;  // i64 [...] -> [..., dim]
  Tensor weight;
};

// The position of each row's end token: argmax of the ids (the first maximum), [B, S] -> B indices.
std::vector<int64_t> end_token_positions(const Tensor& tokens);

}  // namespace iqa::models
