// SIND's quality models (shared/spec/sind.md §1.2). Module and parameter names follow the reference
// (ZachL1/SIND, g_iqa/models/iqa_clip.py), so its checkpoints load by name:
//   LocalGlobalIQA  (LocalGlobalClipIQA): clip_model.visual.* + head.quality_predictor.0.{weight,bias}
//   SimpleClipIQA   (SimpleClip):         clip_model.visual.* + head.{weight,bias}
//   SimpleResNetIQA (SimpleResNet):       clip_model.* (torchvision ResNet names) + head.{weight,bias}
// The reference keeps the whole OpenCLIP model (text tower too) under clip_model; only its visual
// tower takes part in the forward, so only that is built here (checkpoint_names.h drops the rest).
// The reference's SimpleResNet wraps the torchvision children in an nn.Sequential (clip_model.0 =
// conv1, .1 = bn1, .4..7 = layer1..4); here they keep their torchvision names, and
// checkpoint_names.h maps the indices.
#pragma once
#include <memory>
#include <string>

#include "engine/nn.h"
#include "models/clip_vit.h"
#include "models/resnet.h"

namespace iqa::models {

// A quality model scores a (global view, local view) pair: [B,3,H,W] x2 -> [B, 1].
class QualityModel : public Module {
 public:
  virtual Tensor score(const Tensor& x_global, const Tensor& x_local) = 0;
};

// OpenCLIP's CLIP model reduced to the part SIND runs: child "visual".
class CLIPVisualHolder : public Module {
 public:
  explicit CLIPVisualHolder(const VisionTransformerConfig& cfg);
  std::string type_name() const override { return "CLIP"; }
  std::shared_ptr<VisionTransformer> visual;
};

// QualityFusionHead: concat(global 512, mean over tokens of local) -> Linear -> 1.
class QualityFusionHead : public Module {
 public:
  QualityFusionHead(int64_t global_dim, int64_t local_dim);
  std::string type_name() const override { return "QualityFusionHead"; }
  // global_features [B, G]; local_features [B, T, L] (averaged over T).
  Tensor fuse(const Tensor& global_features, const Tensor& local_features);
  std::shared_ptr<Sequential> quality_predictor;  // "0" = Linear(G + L, 1)
  int64_t global_dim, local_dim;
};

// "Token-complementary patch reasoning": q = W [CLSproj(enc(x_global)); mean_tokens(enc(x_local))] + b.
// all_global (ablation): the local branch also uses the projected CLS, head Linear(2 * out, 1).
class LocalGlobalIQA : public QualityModel {
 public:
  explicit LocalGlobalIQA(const VisionTransformerConfig& cfg = VisionTransformerConfig::vit_b16(),
                          bool all_global = false);
  std::string type_name() const override { return "LocalGlobalClipIQA"; }
  Tensor score(const Tensor& x_global, const Tensor& x_local) override;
  VisionTransformer& encoder() { return *clip_model->visual; }
  std::shared_ptr<CLIPVisualHolder> clip_model;
  std::shared_ptr<QualityFusionHead> head;
  bool all_global;
};

// Linear(out_dim, 1) on the projected CLS of the global view; the local view is ignored.
class SimpleClipIQA : public QualityModel {
 public:
  explicit SimpleClipIQA(const VisionTransformerConfig& cfg = VisionTransformerConfig::vit_b16());
  std::string type_name() const override { return "SimpleClip"; }
  Tensor score(const Tensor& x_global, const Tensor& x_local) override;
  VisionTransformer& encoder() { return *clip_model->visual; }
  std::shared_ptr<CLIPVisualHolder> clip_model;
  std::shared_ptr<Linear> head;
};

// ResNet (no fc) -> global average pool -> Linear(feature_dim, 1); the local view is ignored.
class SimpleResNetIQA : public QualityModel {
 public:
  explicit SimpleResNetIQA(ResNetConfig cfg = ResNetConfig::resnet50(0));
  std::string type_name() const override { return "SimpleResNet"; }
  Tensor score(const Tensor& x_global, const Tensor& x_local) override;
  std::shared_ptr<ResNet> clip_model;
  std::shared_ptr<Linear> head;
};

}  // namespace iqa::models
