// DSMix networks (shared/spec/dsmix.md §6, §8, §9). DSMix published no code, so module names and
// the unstated shapes are this project's choices, following the spec's recommended defaults:
//   DSMPredictor:   encoder.* (VisionTransformer, ViT-B/8 without CLS or projection, CLIP layout)
//                   decoder.* (token-wise MLP width -> hidden... -> 1; default a single Linear)
//   QualityEncoder: backbone.* (torchvision ResNet-50 names, no fc),
//                   type_head.{0,2}.* and level_head.{0,2}.* (GAP 2048 -> 512 -> ReLU -> C)
//   Default classes: 26 distortion types (25 + pristine = class 0) and 6 levels (5 + pristine).
//   Joint label space (spec §7's alternative reading, --label_space joint): one class_head.{0,2}.*
//   over the 126 (type, level) classes instead of the two heads.
//   LinearProbeHead: {0,2}.* (2048 -> 512 -> ReLU -> 1); the spec's optional dropout is left out.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "models/clip_vit.h"
#include "models/resnet.h"

namespace iqa::models {

struct DSMPredictorConfig {
  VisionTransformerConfig encoder = VisionTransformerConfig::vit_b8_no_cls();
  std::vector<int64_t> decoder_hidden = {};  // empty: the decoder is one Linear(width, 1)
  Activation decoder_activation = Activation::GELU;
  // The decoder's last Linear is initialised as torch does, then its weight is multiplied by this.
  // The ground-truth maps are small (mean |I_D - I_R| per cell, ~0.04 on [0, 1] pixels) while the
  // default init outputs values ~0.5 (unit-variance tokens after ln_post), ~20x the targets; at the
  // tiny size the first steps went into shrinking the output. tiny() uses 0.01 (output near the
  // targets' scale from the start); 1 (the default) keeps torch's init for the full-size predictor.
  double decoder_init_scale = 1.0;
  // A 2-layer width-64 ViT with patch 8 (no CLS, no projection) at image_size², for tests and the demo.
  static DSMPredictorConfig tiny(int64_t image_size);
};

// Predicts the distortion sensitivity map: one value per patch token, so with patch 8 at 224² the
// map is 28x28, the same grid as the ground truth AvgPool_8(mean_c |I_D - I_R|).
class DSMPredictor : public Module {
 public:
  explicit DSMPredictor(const DSMPredictorConfig& cfg = {});
  std::string type_name() const override { return "DSMPredictor"; }
  // x [B, 3, S, S] -> map [B, 1, S/patch, S/patch].
  Tensor forward(const Tensor& x) override;
  DSMPredictorConfig config;
  std::shared_ptr<VisionTransformer> encoder;
  std::shared_ptr<MLP> decoder;
};

struct QualityEncoderConfig {
  ResNetConfig backbone = ResNetConfig::resnet50(0);
  int64_t head_hidden = 512;
  int64_t type_classes = 26;
  int64_t level_classes = 6;
  bool joint = false;            // one head over joint_classes instead of the type and level heads
  int64_t joint_classes = 126;
  // ResNetConfig::tiny() backbone (feature 128) with a 32-wide head, for tests and the demo.
  static QualityEncoderConfig tiny();
};

struct QualityEncoderOutput {
  ResNetFeatures features;  // layer1..4 (for the distillation loss) and the pooled feature
  Tensor type_logits;       // [B, type_classes]; undefined with a joint head
  Tensor level_logits;      // [B, level_classes]; undefined with a joint head
  Tensor class_logits;      // [B, joint_classes]; only with a joint head
};

class QualityEncoder : public Module {
 public:
  explicit QualityEncoder(const QualityEncoderConfig& cfg = {});
  std::string type_name() const override { return "QualityEncoder"; }
  QualityEncoderOutput run(const Tensor& x);
  // The type logits (the joint logits with a joint head).
  Tensor forward(const Tensor& x) override;
  QualityEncoderConfig config;
  std::shared_ptr<ResNet> backbone;
  std::shared_ptr<MLP> type_head, level_head;  // null with a joint head
  std::shared_ptr<MLP> class_head;             // null with two heads
};

// The linear-probing regressor on the frozen encoder's pooled feature: [B, in] -> [B, 1].
class LinearProbeHead : public MLP {
 public:
  explicit LinearProbeHead(int64_t in_features = 2048, int64_t hidden = 512);
  std::string type_name() const override { return "LinearProbeHead"; }
};

}  // namespace iqa::models
