// torchvision's ResNet with Bottleneck blocks (v1.5: the stride sits on the 3x3 conv). Names equal
// torchvision's state dict: conv1, bn1, layer1.0.{conv1,bn1,conv2,bn2,conv3,bn3,downsample.0,
// downsample.1}, ..., fc. Widths and block counts are configurable for small test variants.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace iqa::models {

struct ResNetConfig {
  std::vector<int64_t> blocks = {3, 4, 6, 3};
  int64_t stem_width = 64;                               // conv1's output channels
  std::vector<int64_t> planes = {64, 128, 256, 512};     // bottleneck widths of layer1..4
  int64_t expansion = 4;                                 // block output = planes * expansion
  int64_t num_classes = 1000;                            // 0 = no fc (feature extractor)

  int64_t feature_dim() const { return planes.back() * expansion; }
  std::vector<int64_t> stage_channels() const;
  std::string str() const;

  static ResNetConfig resnet50(int64_t num_classes = 1000);
  // Stem 8, planes {4, 8, 16, 32} (outputs 16..128), one block per stage: for tests.
  static ResNetConfig tiny(int64_t num_classes = 10);
};

class Bottleneck : public Module {
 public:
  Bottleneck(int64_t in_channels, int64_t planes, int64_t expansion, int stride);
  std::string type_name() const override { return "Bottleneck"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> downsample;  // conv1x1(stride) + BN, only when the shape changes
};

struct ResNetFeatures {
  Tensor layer1, layer2, layer3, layer4;  // stage outputs [B, C_i, H_i, W_i]
  Tensor pooled;                          // [B, feature_dim]: global average pool of layer4
  Tensor logits;                          // [B, num_classes]; undefined without fc
};

class ResNet : public Module {
 public:
  explicit ResNet(const ResNetConfig& cfg);
  std::string type_name() const override { return "ResNet"; }
  ResNetFeatures features(const Tensor& x);
  // Logits when the model has an fc, else the pooled feature.
  Tensor forward(const Tensor& x) override;

  ResNetConfig config;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<Linear> fc;  // null when num_classes == 0
};

}  // namespace iqa::models
