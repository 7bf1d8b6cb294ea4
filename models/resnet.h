// torchvision's ResNet with Bottleneck blocks (v1.5: the stride sits on the 3x3 conv). Names equal
// torchvision's state dict: conv1, bn1, layer1.0.{conv1,bn1,conv2,bn2,conv3,bn3,downsample.0,
// downsample.1}, ..., fc. Widths and block counts are configurable for small test variants.
//
// channels_last runs every block on [N, H, W, C] activations (cuDNN's NHWC convolutions on CUDA, the
// layout its tensor-core kernels use natively). It changes no parameter, name or output: the input
// is still [B, 3, H, W], the stage outputs and pooled feature have the NCHW path's shapes and values.
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
  bool channels_last = false;                            // NHWC activations (see above); off = NCHW

  int64_t feature_dim() const { return planes.back() * expansion; }
  std::vector<int64_t> stage_channels() const;
  std::string str() const;

  static ResNetConfig resnet50(int64_t num_classes = 1000);
  // Stem 8, planes {4, 8, 16, 32} (outputs 16..128), one block per stage: for tests.
  static ResNetConfig tiny(int64_t num_classes = 10);
};

// Conv2d and BatchNorm2d that also run on channels-last activations. Same parameters, buffers, names
// and type names as the plain layers, so state dicts and checkpoints never see the layout.
class LayoutConv2d : public Conv2d {
 public:
  using Conv2d::Conv2d;
  // x [N, C, H, W], or [N, H, W, C] when channels_last (conv2d_nhwc).
  Tensor forward(const Tensor& x) override;
  bool channels_last = false;
};

class LayoutBatchNorm2d : public BatchNorm2d {
 public:
  using BatchNorm2d::BatchNorm2d;
  // x [N, C, H, W] (exactly BatchNorm2d), or [N, H, W, C] when channels_last (batch_norm2d_nhwc).
  // Channels-last keeps bf16/f16 activations in their dtype under autocast (f32 statistics and
  // parameters inside the kernels; PyTorch's cuDNN batch norm does the same), which saves two cast
  // passes per layer; NCHW casts up to f32 like BatchNorm2d.
  Tensor forward(const Tensor& x) override;
  bool channels_last = false;

 protected:
  void after_load_state_dict() override;

 private:
  int64_t batches_seen_ = 0;  // host mirror of num_batches_tracked (-1: re-read it), for both layouts
};

class Bottleneck : public Module {
 public:
  Bottleneck(int64_t in_channels, int64_t planes, int64_t expansion, int stride);
  std::string type_name() const override { return "Bottleneck"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<LayoutConv2d> conv1, conv2, conv3;
  std::shared_ptr<LayoutBatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> downsample;  // conv1x1(stride) + BN, only when the shape changes
};

struct ResNetFeatures {
  // Stage outputs [B, C_i, H_i, W_i] in both layouts. With channels_last they are permuted views of
  // the NHWC activations (no copy; channels have stride 1), so consumers such as the distillation
  // loss see the same shapes and values whichever layout student and teacher run in.
  Tensor layer1, layer2, layer3, layer4;
  Tensor pooled;                          // [B, feature_dim]: global average pool of layer4
  Tensor logits;                          // [B, num_classes]; undefined without fc
};

class ResNet : public Module {
 public:
  explicit ResNet(const ResNetConfig& cfg);
  std::string type_name() const override { return "ResNet"; }
  // x [B, 3, H, W] in both layouts.
  ResNetFeatures features(const Tensor& x);
  // Logits when the model has an fc, else the pooled feature.
  Tensor forward(const Tensor& x) override;
  // Switches the layout of every conv and batch norm (and config.channels_last); parameters unchanged.
  void set_channels_last(bool on);

  ResNetConfig config;
  std::shared_ptr<LayoutConv2d> conv1;
  std::shared_ptr<LayoutBatchNorm2d> bn1;
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<Linear> fc;  // null when num_classes == 0
};

}  // namespace iqa::models
