// CLIP visual transformer: configs, attention block, the tower's forward.
#include "models/clip_vit.h"

#include <cmath>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/random.h"

namespace iqa::models {

namespace {
Tensor scaled_normal(const Shape& shape, double scale) {
  NoGradGuard ng;
  return mul(Tensor::randn(shape), scale);
}
}  // namespace

// ---------------------------------------------------------------- configs
namespace {
// ", conv stem 16-16" for stem_channels {16, 16}; empty without a stem.
std::string stem_str(const std::vector<int64_t>& channels) {
  std::string s;
  for (int64_t c : channels) s += (s.empty() ? ", conv stem " : "-") + std::to_string(c);
  return s;
}
}  // namespace

std::string VisionTransformerConfig::str() const {
  return cat("ViT(image ", image_size, ", patch ", patch_size, ", width ", width, ", layers ", layers, ", heads ",
             heads, ", mlp x", mlp_ratio, ", out ", output_dim, class_token ? ", cls" : ", no cls",
             pre_norm ? "" : ", no ln_pre", patch_bias ? ", patch bias" : "", stem_str(stem_channels), ")");
}

VisionTransformerConfig VisionTransformerConfig::vit_b16() { return VisionTransformerConfig{}; }

VisionTransformerConfig VisionTransformerConfig::vit_b32() {
  VisionTransformerConfig c;
  c.patch_size = 32;
  return c;
}

VisionTransformerConfig VisionTransformerConfig::vit_b8_no_cls() {
  VisionTransformerConfig c;
  c.patch_size = 8;
  c.output_dim = 0;
  c.class_token = false;
  c.pre_norm = false;
  c.patch_bias = true;
  return c;
}

VisionTransformerConfig VisionTransformerConfig::tiny(int64_t patch_size, int64_t image_size) {
  VisionTransformerConfig c;
  c.image_size = image_size;
  c.patch_size = patch_size;
  c.width = 64;
  c.layers = 2;
  c.heads = 4;
  c.output_dim = 32;
  return c;
}

// ---------------------------------------------------------------- attention
CLIPAttention::CLIPAttention(int64_t width_, int64_t heads_) : width(width_), heads(heads_) {
  IQA_CHECK(heads_ > 0 && width_ % heads_ == 0, "CLIPAttention: width ", width_, " must divide by heads ", heads_);
  // nn.MultiheadAttention's init: xavier-uniform qkv weight (fan_in W, fan_out 3W), zero biases.
  double bound = std::sqrt(6.0 / double(width_ + 3 * width_));
  {
    NoGradGuard ng;
    in_proj_weight = register_parameter("in_proj_weight", add(mul(Tensor::rand({3 * width_, width_}), 2 * bound), -bound));
  }
  in_proj_bias = register_parameter("in_proj_bias", Tensor::zeros({3 * width_}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(width_, width_));
  out_proj->bias.zero_();
}

Tensor CLIPAttention::forward(const Tensor& x) {
  IQA_CHECK(x.dim() == 3 && x.size(2) == width, "CLIPAttention: input ", x.str(), " must be [B, S, ", width, "]");
  const int64_t B = x.size(0), S = x.size(1), D = width / heads;
  Tensor qkv = linear(x, in_proj_weight, in_proj_bias);
  // [B, S, 3W] -> [3, B, H, S, D]: the three heads-major views the attention op takes.
  Tensor split = qkv.view({B, S, 3, heads, D}).permute({2, 0, 3, 1, 4});
  Tensor o = scaled_dot_product_attention(split.select(0, 0), split.select(0, 1), split.select(0, 2));
  return out_proj->forward(o.permute({0, 2, 1, 3}).reshape({B, S, width}));
}

CLIPMlp::CLIPMlp(int64_t width, int64_t hidden, Activation act) : activation(act) {
  c_fc = register_module("c_fc", std::make_shared<Linear>(width, hidden));
  c_proj = register_module("c_proj", std::make_shared<Linear>(hidden, width));
}

// QuickGELU (CLIP's activation) runs fused with c_fc: the bias in the GEMM epilogue, one activation pass,
// one backward pass for the activation and the bias gradient; same numbers as Linear + QuickGELU.
Tensor CLIPMlp::forward(const Tensor& x) {
  if (activation == Activation::QuickGELU) {
    IQA_CHECK(x.dim() >= 1 && x.size(-1) == c_fc->in_features, "CLIPMlp: input ", x.str(), " must end in ",
              c_fc->in_features);
    Tensor h = linear_quick_gelu(x, c_fc->weight, c_fc->bias);
    return c_proj->forward(h);
  }
  return c_proj->forward(apply_activation(activation, c_fc->forward(x)));
}

ResidualAttentionBlock::ResidualAttentionBlock(const VisionTransformerConfig& cfg) {
  ln_1 = register_module("ln_1", std::make_shared<LayerNorm>(cfg.width, cfg.ln_eps));
  attn = register_module("attn", std::make_shared<CLIPAttention>(cfg.width, cfg.heads));
  ln_2 = register_module("ln_2", std::make_shared<LayerNorm>(cfg.width, cfg.ln_eps));
  mlp = register_module("mlp", std::make_shared<CLIPMlp>(cfg.width, cfg.width * cfg.mlp_ratio, cfg.activation));
}

// residual + branch, then `ln`, in one add_layer_norm pass (same numbers as add then LayerNorm). Under
// autocast the branch arrives in bf16/f16 beside the f32 residual stream; add_layer_norm runs in f32
// (engine/amp.cpp), so the stream stays f32 as in PyTorch. The two-op form only for mismatched shapes
// or dtypes outside autocast.
static AddLayerNormResult add_then_layer_norm(const Tensor& residual, const Tensor& branch, LayerNorm& ln) {
  if (branch.shape() == residual.shape() && (branch.dtype() == residual.dtype() || amp::autocast_active()))
    return add_layer_norm(residual, branch, ln.weight, ln.bias, ln.eps);
  Tensor sum = add(residual, branch);
  return {sum, ln.forward(sum)};
}

// Every residual add in the tower is followed by a LayerNorm: the attention's by ln_2 in the same
// block, the MLP's by the next block's ln_1 (or by ln_post after the last block). So the block leaves
// its final add to the caller, which fuses it with whichever LayerNorm comes next.
ResidualAttentionBlock::Unfinished ResidualAttentionBlock::forward_unfinished(const Tensor& x, const Tensor& x_ln1) {
  AddLayerNormResult mid = add_then_layer_norm(x, attn->forward(x_ln1), *ln_2);
  return {mid.sum, mlp->forward(mid.out)};
}

Tensor ResidualAttentionBlock::forward(const Tensor& x) {
  Unfinished u = forward_unfinished(x, ln_1->forward(x));
  return add(u.residual, u.branch);
}

CLIPTransformer::CLIPTransformer(const VisionTransformerConfig& cfg) {
  resblocks = register_module("resblocks", std::make_shared<Sequential>());
  for (int64_t i = 0; i < cfg.layers; ++i) resblocks->push_back(std::make_shared<ResidualAttentionBlock>(cfg));
}

AddLayerNormResult CLIPTransformer::forward_then_norm(const Tensor& x, LayerNorm& final_ln) {
  if (resblocks->size() == 0) return {x, final_ln.forward(x)};
  auto block = [&](size_t i) -> ResidualAttentionBlock& {
    return static_cast<ResidualAttentionBlock&>((*resblocks)[i]);
  };
  ResidualAttentionBlock::Unfinished u = block(0).forward_unfinished(x, block(0).ln_1->forward(x));
  for (size_t i = 1; i < resblocks->size(); ++i) {
    AddLayerNormResult next = add_then_layer_norm(u.residual, u.branch, *block(i).ln_1);
    u = block(i).forward_unfinished(next.sum, next.out);
  }
  return add_then_layer_norm(u.residual, u.branch, final_ln);
}

// ---------------------------------------------------------------- the tower
VisionTransformer::VisionTransformer(const VisionTransformerConfig& cfg) : config(cfg) {
  IQA_CHECK(cfg.patch_size > 0 && cfg.image_size > 0 && cfg.image_size % cfg.patch_size == 0,
            "VisionTransformer: image size ", cfg.image_size, " must be a positive multiple of the patch size ",
            cfg.patch_size);
  IQA_CHECK(cfg.width > 0 && cfg.layers >= 0 && cfg.mlp_ratio > 0 && cfg.output_dim >= 0,
            "VisionTransformer: bad config ", cfg.str());
  // OpenCLIP's init: embeddings and projection ~ N(0, 1/width).
  const double scale = 1.0 / std::sqrt(double(cfg.width));
  if (cfg.class_token) class_embedding = register_parameter("class_embedding", scaled_normal({cfg.width}, scale));
  positional_embedding =
      register_parameter("positional_embedding", scaled_normal({cfg.num_positions(), cfg.width}, scale));
  if (cfg.output_dim > 0) proj = register_parameter("proj", scaled_normal({cfg.width, cfg.output_dim}, scale));
  int64_t channels = 3;
  if (!cfg.stem_channels.empty()) {
    stem = register_module("stem", std::make_shared<Sequential>());
    for (int64_t out : cfg.stem_channels) {
      IQA_CHECK(out > 0, "VisionTransformer: stem channels must be positive in ", cfg.str());
      stem->push_back(std::make_shared<Conv2d>(channels, out, 3, 1, 1));
      stem->push_back(std::make_shared<ActivationLayer>(Activation::ReLU));
      channels = out;
    }
  }
  conv1 = register_module("conv1", std::make_shared<Conv2d>(channels, cfg.width, int(cfg.patch_size),
                                                            int(cfg.patch_size), 0, 1, 1, cfg.patch_bias));
  if (cfg.pre_norm) ln_pre = register_module("ln_pre", std::make_shared<LayerNorm>(cfg.width, cfg.ln_eps));
  transformer = register_module("transformer", std::make_shared<CLIPTransformer>(cfg));
  ln_post = register_module("ln_post", std::make_shared<LayerNorm>(cfg.width, cfg.ln_eps));
}

VisionTransformerOutput VisionTransformer::encode(const Tensor& x) {
  const auto& c = config;
  IQA_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == c.image_size && x.size(3) == c.image_size,
            "VisionTransformer: input ", x.str(), " must be [B, 3, ", c.image_size, ", ", c.image_size, "] for ",
            c.str());
  const int64_t B = x.size(0), W = c.width, N = c.num_patches();
  // Patch embedding [B, W, g, g] -> tokens [B, N, W] (row-major over the grid, like OpenCLIP). Under
  // autocast conv1 gives bf16/f16 tokens; joining the f32 class and positional embeddings promotes them
  // to f32 (concat and add promote), so the residual stream starts in f32, as torch.autocast has it.
  Tensor h = conv1->forward(stem ? stem->forward(x) : x).reshape({B, W, N}).permute({0, 2, 1});
  if (c.class_token) {
    Tensor cls = class_embedding.view({1, 1, W}).expand({B, 1, W});
    h = concat({cls, h}, 1);
  }
  h = add(h, positional_embedding);
  if (ln_pre) h = ln_pre->forward(h);
  // The blocks, then ln_post on all tokens (OpenCLIP's pool_type 'tok' pools after ln_post), with the
  // last residual add fused into ln_post.
  h = transformer->forward_then_norm(h, *ln_post).out;

  VisionTransformerOutput out;
  if (c.class_token) {
    out.tokens = h.narrow(1, 1, N);
    Tensor cls = h.select(1, 0);
    out.pooled = proj.defined() ? matmul(cls, proj) : cls;
  } else {
    out.tokens = h;
  }
  return out;
}

Tensor VisionTransformer::forward(const Tensor& x) {
  VisionTransformerOutput o = encode(x);
  return o.pooled.defined() ? o.pooled : o.tokens;
}

}  // namespace iqa::models
