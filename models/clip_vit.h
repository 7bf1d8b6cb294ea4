// The CLIP visual transformer in OpenAI/OpenCLIP layout (shared/spec/sind.md §1.1). Parameter
// names equal OpenCLIP's `visual.*` state dict minus the "visual." prefix, so an OpenCLIP or OpenAI
// checkpoint loads by name (models/checkpoint_names.h also maps Hugging Face's names):
//   class_embedding [W], positional_embedding [S, W], proj [W, out], conv1.weight (no bias),
//   ln_pre.*, transformer.resblocks.N.{ln_1, attn.in_proj_weight/in_proj_bias, attn.out_proj,
//   ln_2, mlp.c_fc, mlp.c_proj}, ln_post.*
// Only with stem_channels (not CLIP's): stem.{0,2,...}.{weight,bias}, the stem's 3x3 convolutions.
// Block: x += attn(ln_1(x)); x += mlp(ln_2(x)); pre-LN, no dropout, no layer scale.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace iqa::models {

struct VisionTransformerConfig {
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t width = 768;
  int64_t layers = 12;
  int64_t heads = 12;
  int64_t mlp_ratio = 4;
  int64_t output_dim = 512;  // columns of `proj`; 0 = no projection
  bool class_token = true;   // false: no class_embedding, every position is a patch token
  // CLIP normalises the embedded tokens (ln_pre) and embeds patches without a bias. A timm-style ViT
  // (what the DSMix spec's E(x) = Layers(PatchEmbed(x) + E_pos) describes) does neither: without
  // ln_pre a token keeps its patch's amplitude (how strong the noise or texture in it is), which is
  // what the sensitivity map measures.
  bool pre_norm = true;      // false: no ln_pre
  bool patch_bias = false;   // true: conv1 has a bias
  // A convolutional stem before the patch embedding ("early convolutions", Xiao et al. 2021): one
  // 3x3 stride-1 Conv2d + ReLU per entry, with that many output channels, so conv1 sees local
  // pixel differences instead of raw pixels. Empty (CLIP, ViT-B/8): conv1 embeds the RGB patches.
  // Only the demo's tiny sensitivity-map predictor uses it (see DSMPredictorConfig::tiny).
  std::vector<int64_t> stem_channels = {};
  Activation activation = Activation::QuickGELU;
  double ln_eps = 1e-5;

  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  int64_t num_positions() const { return num_patches() + (class_token ? 1 : 0); }
  std::string str() const;

  // OpenAI CLIP ViT-B/16 (what SIND fine-tunes): 224², 196 patches + CLS, width 768, 12x12 heads, proj 512.
  static VisionTransformerConfig vit_b16();
  // OpenAI CLIP ViT-B/32 (what the reference's scene labeller uses): as ViT-B/16 with 32x32 patches (49 + CLS).
  static VisionTransformerConfig vit_b32();
  // DSMix's sensitivity-map encoder: ViT-B/8 at 224² (784 tokens), no CLS token and no projection,
  // timm-style embedding (biased patch embedding, no ln_pre).
  static VisionTransformerConfig vit_b8_no_cls();
  // Width 64, 2 layers, 4 heads, proj 32: for tests and the CPU demo.
  static VisionTransformerConfig tiny(int64_t patch_size = 16, int64_t image_size = 32);
};

// nn.MultiheadAttention's self-attention path with a fused, biased qkv projection.
class CLIPAttention : public Module {
 public:
  CLIPAttention(int64_t width, int64_t heads);
  std::string type_name() const override { return "MultiheadAttention"; }
  Tensor forward(const Tensor& x) override;  // [B, S, W] -> [B, S, W]
  Tensor in_proj_weight, in_proj_bias;       // [3W, W], [3W]: rows are q, k, v
  std::shared_ptr<Linear> out_proj;
  int64_t width, heads;
};

// OpenCLIP's Sequential(c_fc, gelu, c_proj).
class CLIPMlp : public Module {
 public:
  CLIPMlp(int64_t width, int64_t hidden, Activation activation);
  std::string type_name() const override { return "CLIPMlp"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Linear> c_fc, c_proj;
  Activation activation;
};

class ResidualAttentionBlock : public Module {
 public:
  explicit ResidualAttentionBlock(const VisionTransformerConfig& cfg);
  std::string type_name() const override { return "ResidualAttentionBlock"; }
  Tensor forward(const Tensor& x) override;
  // The block output is residual + branch; the caller adds them, fused with the LayerNorm that
  // follows (see CLIPTransformer::forward_then_norm). x_ln1 must be ln_1(x).
  struct Unfinished {
    Tensor residual, branch;
  };
  Unfinished forward_unfinished(const Tensor& x, const Tensor& x_ln1);
  std::shared_ptr<LayerNorm> ln_1, ln_2;
  std::shared_ptr<CLIPAttention> attn;
  std::shared_ptr<CLIPMlp> mlp;
};

// Holds the blocks as "resblocks.N" (OpenCLIP's Transformer module).
class CLIPTransformer : public Module {
 public:
  explicit CLIPTransformer(const VisionTransformerConfig& cfg);
  std::string type_name() const override { return "Transformer"; }
  Tensor forward(const Tensor& x) override { return resblocks->forward(x); }
  // The blocks followed by final_ln, each block's last residual add fused with the next LayerNorm:
  // {stream, final_ln(stream)}, the same numbers as forward() then final_ln.
  AddLayerNormResult forward_then_norm(const Tensor& x, LayerNorm& final_ln);
  std::shared_ptr<Sequential> resblocks;
};

struct VisionTransformerOutput {
  Tensor pooled;  // [B, output_dim] projected CLS (width when output_dim == 0); undefined without CLS
  Tensor tokens;  // [B, num_patches, width]: patch tokens after ln_post, not projected
};

class VisionTransformer : public Module {
 public:
  explicit VisionTransformer(const VisionTransformerConfig& cfg);
  std::string type_name() const override { return "VisionTransformer"; }
  // x: [B, 3, image_size, image_size] (other sizes divisible by the patch size are rejected:
  // the positional embedding is fixed).
  VisionTransformerOutput encode(const Tensor& x);
  // Single-tensor form: the pooled output (the tokens when there is no CLS token).
  Tensor forward(const Tensor& x) override;

  VisionTransformerConfig config;
  Tensor class_embedding, positional_embedding, proj;
  std::shared_ptr<Sequential> stem;  // null without stem_channels
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<LayerNorm> ln_pre, ln_post;
  std::shared_ptr<CLIPTransformer> transformer;
};

}  // namespace iqa::models
