// SIND quality models: the LocalGlobal fusion head and the two baselines.
#include "models/sind.h"

#include "engine/amp.h"

namespace iqa::models {

namespace {
VisionTransformerConfig require_projection(const VisionTransformerConfig& cfg, const char* who) {
  IQA_CHECK(cfg.class_token && cfg.output_dim > 0, who, ": needs a CLIP tower with a CLS token and a projection, got ",
            cfg.str());
  return cfg;
}
}  // namespace

CLIPVisualHolder::CLIPVisualHolder(const VisionTransformerConfig& cfg) {
  visual = register_module("visual", std::make_shared<VisionTransformer>(cfg));
}

// ---------------------------------------------------------------- LocalGlobal
QualityFusionHead::QualityFusionHead(int64_t g, int64_t l) : global_dim(g), local_dim(l) {
  quality_predictor = register_module("quality_predictor", std::make_shared<Sequential>());
  quality_predictor->push_back(std::make_shared<Linear>(g + l, 1));
}

Tensor QualityFusionHead::fuse(const Tensor& global_features, const Tensor& local_features) {
  IQA_CHECK(global_features.dim() == 2 && global_features.size(1) == global_dim, "QualityFusionHead: global features ",
            global_features.str(), " must be [B, ", global_dim, "]");
  IQA_CHECK(local_features.dim() == 3 && local_features.size(2) == local_dim &&
                local_features.size(0) == global_features.size(0),
            "QualityFusionHead: local features ", local_features.str(), " must be [", global_features.size(0),
            ", T, ", local_dim, "]");
  // One fused op (engine/ops_iqa.cpp): the token mean, the concat and the Linear, without
  // materialising the [B, G + D] feature. Under autocast everything runs in the autocast dtype.
  auto& fc = static_cast<Linear&>((*quality_predictor)[0]);
  Tensor g = amp::autocast(global_features), l = amp::autocast(local_features);
  if (l.dtype() != g.dtype()) l = l.to(g.dtype());
  Tensor w = amp::autocast(fc.weight), b = amp::autocast(fc.bias);
  if (w.dtype() != g.dtype()) {
    w = w.to(g.dtype());
    b = b.to(g.dtype());
  }
  return local_global_head(g, l, w, b);
}

LocalGlobalIQA::LocalGlobalIQA(const VisionTransformerConfig& cfg, bool all_global_) : all_global(all_global_) {
  require_projection(cfg, "LocalGlobalIQA");
  clip_model = register_module("clip_model", std::make_shared<CLIPVisualHolder>(cfg));
  head = register_module("head", std::make_shared<QualityFusionHead>(cfg.output_dim,
                                                                     all_global ? cfg.output_dim : cfg.width));
}

Tensor LocalGlobalIQA::score(const Tensor& x_global, const Tensor& x_local) {
  // Two separate passes through the one encoder, as in the reference.
  Tensor g = encoder().encode(x_global).pooled;
  VisionTransformerOutput local = encoder().encode(x_local);
  Tensor l = all_global ? local.pooled.unsqueeze(1) : local.tokens;
  return head->fuse(g, l);
}

// ---------------------------------------------------------------- baselines
SimpleClipIQA::SimpleClipIQA(const VisionTransformerConfig& cfg) {
  require_projection(cfg, "SimpleClipIQA");
  clip_model = register_module("clip_model", std::make_shared<CLIPVisualHolder>(cfg));
  head = register_module("head", std::make_shared<Linear>(cfg.output_dim, 1));
}

Tensor SimpleClipIQA::score(const Tensor& x_global, const Tensor&) {
  return head->forward(encoder().encode(x_global).pooled);
}

SimpleResNetIQA::SimpleResNetIQA(ResNetConfig cfg) {
  cfg.num_classes = 0;  // the reference drops torchvision's fc and puts its own head on the pool
  clip_model = register_module("clip_model", std::make_shared<ResNet>(cfg));
  head = register_module("head", std::make_shared<Linear>(cfg.feature_dim(), 1));
}

Tensor SimpleResNetIQA::score(const Tensor& x_global, const Tensor&) {
  Tensor pooled = clip_model->features(x_global).pooled;
  return head->forward(pooled);
}

}  // namespace iqa::models
