// DSMix networks: sensitivity-map predictor, quality encoder with its two classification heads,
// and the linear-probe regressor.
#include "models/dsmix.h"

namespace iqa::models {

DSMPredictor::DSMPredictor(const DSMPredictorConfig& cfg) : config(cfg) {
  IQA_CHECK(!cfg.encoder.class_token && cfg.encoder.output_dim == 0,
            "DSMPredictor: the encoder must have no CLS token and no projection (one output per patch), got ",
            cfg.encoder.str());
  encoder = register_module("encoder", std::make_shared<VisionTransformer>(cfg.encoder));
  decoder = register_module("decoder",
                            std::make_shared<MLP>(cfg.encoder.width, cfg.decoder_hidden, 1, cfg.decoder_activation));
}

Tensor DSMPredictor::forward(const Tensor& x) {
  Tensor tokens = encoder->encode(x).tokens;  // [B, N, W], row-major over the patch grid
  Tensor per_token = decoder->forward(tokens);  // [B, N, 1]
  const int64_t g = config.encoder.grid();
  return per_token.reshape({x.size(0), 1, g, g});
}

QualityEncoder::QualityEncoder(const QualityEncoderConfig& cfg) : config(cfg) {
  IQA_CHECK(cfg.head_hidden > 0 && cfg.type_classes > 1 && cfg.level_classes > 1,
            "QualityEncoder: bad head sizes hidden ", cfg.head_hidden, ", type classes ", cfg.type_classes,
            ", level classes ", cfg.level_classes);
  ResNetConfig b = cfg.backbone;
  b.num_classes = 0;
  backbone = register_module("backbone", std::make_shared<ResNet>(b));
  const int64_t d = b.feature_dim();
  type_head = register_module("type_head", std::make_shared<MLP>(d, std::vector<int64_t>{cfg.head_hidden},
                                                                  cfg.type_classes, Activation::ReLU));
  level_head = register_module("level_head", std::make_shared<MLP>(d, std::vector<int64_t>{cfg.head_hidden},
                                                                   cfg.level_classes, Activation::ReLU));
}

QualityEncoderOutput QualityEncoder::run(const Tensor& x) {
  QualityEncoderOutput o;
  o.features = backbone->features(x);
  o.type_logits = type_head->forward(o.features.pooled);
  o.level_logits = level_head->forward(o.features.pooled);
  return o;
}

LinearProbeHead::LinearProbeHead(int64_t in_features, int64_t hidden)
    : MLP(in_features, std::vector<int64_t>{hidden}, 1, Activation::ReLU) {}

}  // namespace iqa::models
