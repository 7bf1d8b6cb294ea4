// DSMix networks: sensitivity-map predictor, quality encoder with its two classification heads,
// and the linear-probe regressor.
#include "models/dsmix.h"

#include "engine/autograd.h"
#include "engine/ops.h"

namespace iqa::models {

DSMPredictor::DSMPredictor(const DSMPredictorConfig& cfg) : config(cfg) {
  IQA_CHECK(!cfg.encoder.class_token && cfg.encoder.output_dim == 0,
            "DSMPredictor: the encoder must have no CLS token and no projection (one output per patch), got ",
            cfg.encoder.str());
  encoder = register_module("encoder", std::make_shared<VisionTransformer>(cfg.encoder));
  decoder = register_module("decoder",
                            std::make_shared<MLP>(cfg.encoder.width, cfg.decoder_hidden, 1, cfg.decoder_activation));
  IQA_CHECK(cfg.decoder_init_scale > 0, "DSMPredictor: decoder_init_scale must be positive, got ", cfg.decoder_init_scale);
  if (cfg.decoder_init_scale != 1.0) {
    NoGradGuard ng;
    auto& last = dynamic_cast<Linear&>((*decoder)[decoder->size() - 1]);
    last.weight.copy_(mul(last.weight, cfg.decoder_init_scale));
    if (last.bias.defined()) last.bias.zero_();
  }
}

Tensor DSMPredictor::forward(const Tensor& x) {
  Tensor tokens = encoder->encode(x).tokens;  // [B, N, W], row-major over the patch grid
  Tensor per_token = decoder->forward(tokens);  // [B, N, 1]
  const int64_t g = config.encoder.grid();
  return per_token.reshape({x.size(0), 1, g, g});
}

DSMPredictorConfig DSMPredictorConfig::tiny(int64_t image_size) {
  DSMPredictorConfig c;
  c.encoder = VisionTransformerConfig::tiny(8, image_size);
  c.encoder.output_dim = 0;
  c.encoder.class_token = false;
  c.encoder.pre_norm = false;  // as vit_b8_no_cls(): timm-style embedding
  c.encoder.patch_bias = true;
  // Two 3x3 convolutions before the patch embedding. Measured on the demo's data (64x64 crops of
  // 800 procedural references, 6 types x 5 levels, 2000 steps of batch 16, AdamW 1e-3): the plain
  // 2-layer ViT reached a held-out map MSE of 0.00119 against 0.00126 for the mean map (it learns
  // almost nothing a CPU can afford); with one conv 0.00062, with two 0.00049 (knowing each
  // image's type and level exactly would give 0.00057).
  c.encoder.stem_channels = {16, 16};
  c.decoder_init_scale = 0.01;
  return c;
}

QualityEncoderConfig QualityEncoderConfig::tiny() {
  QualityEncoderConfig c;
  c.backbone = ResNetConfig::tiny(0);
  c.head_hidden = 32;
  return c;
}

QualityEncoder::QualityEncoder(const QualityEncoderConfig& cfg) : config(cfg) {
  const bool heads_ok = cfg.joint ? cfg.joint_classes > 1 : (cfg.type_classes > 1 && cfg.level_classes > 1);
  IQA_CHECK(cfg.head_hidden > 0 && heads_ok, "QualityEncoder: bad head sizes hidden ", cfg.head_hidden,
            ", type classes ", cfg.type_classes, ", level classes ", cfg.level_classes, ", joint ", cfg.joint,
            " with ", cfg.joint_classes, " classes");
  ResNetConfig b = cfg.backbone;
  b.num_classes = 0;
  backbone = register_module("backbone", std::make_shared<ResNet>(b));
  const int64_t d = b.feature_dim();
  auto head = [&](int64_t classes) {
    return std::make_shared<MLP>(d, std::vector<int64_t>{cfg.head_hidden}, classes, Activation::ReLU);
  };
  if (cfg.joint) {
    class_head = register_module("class_head", head(cfg.joint_classes));
  } else {
    type_head = register_module("type_head", head(cfg.type_classes));
    level_head = register_module("level_head", head(cfg.level_classes));
  }
}

QualityEncoderOutput QualityEncoder::run(const Tensor& x) {
  QualityEncoderOutput o;
  o.features = backbone->features(x);
  if (class_head) {
    o.class_logits = class_head->forward(o.features.pooled);
  } else {
    o.type_logits = type_head->forward(o.features.pooled);
    o.level_logits = level_head->forward(o.features.pooled);
  }
  return o;
}

Tensor QualityEncoder::forward(const Tensor& x) {
  QualityEncoderOutput o = run(x);
  return o.class_logits.defined() ? o.class_logits : o.type_logits;
}

LinearProbeHead::LinearProbeHead(int64_t in_features, int64_t hidden)
    : MLP(in_features, std::vector<int64_t>{hidden}, 1, Activation::ReLU) {}

}  // namespace iqa::models
