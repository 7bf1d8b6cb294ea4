// torchvision ResNet (Bottleneck): construction with torchvision's init, forward with stage outputs.
#include "models/resnet.h"

#include <cmath>

#include "engine/amp.h"
#include "engine/autograd.h"

namespace iqa::models {

namespace {
// torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") on every conv.
std::shared_ptr<LayoutConv2d> make_conv(int64_t cin, int64_t cout, int k, int stride, int padding) {
  auto c = std::make_shared<LayoutConv2d>(cin, cout, k, stride, padding, 1, 1, /*bias=*/false);
  NoGradGuard ng;
  c->weight.copy_(mul(Tensor::randn(c->weight.shape()), std::sqrt(2.0 / double(cout * k * k))));
  return c;
}

std::shared_ptr<LayoutBatchNorm2d> make_bn(int64_t channels) { return std::make_shared<LayoutBatchNorm2d>(channels); }

void set_layout(Module& m, bool channels_last) {
  if (auto* conv = dynamic_cast<LayoutConv2d*>(&m)) conv->channels_last = channels_last;
  if (auto* bn = dynamic_cast<LayoutBatchNorm2d*>(&m)) bn->channels_last = channels_last;
  for (auto& entry : m.children()) set_layout(*entry.second, channels_last);
}
}  // namespace

// ---------------------------------------------------------------- layout-aware layers
Tensor LayoutConv2d::forward(const Tensor& x) {
  if (!channels_last) return Conv2d::forward(x);
  return conv2d_nhwc(amp::autocast(x), amp::autocast(weight), amp::autocast(bias), stride, padding, dilation, groups);
}

Tensor LayoutBatchNorm2d::forward(const Tensor& x) {
  if (is_training()) {
    // As BatchNorm2d: a host mirror of the counter avoids a device->host read per layer per step.
    if (batches_seen_ < 0) batches_seen_ = int64_t(num_batches_tracked.item());
    num_batches_tracked.fill_(double(++batches_seen_));
  }
  if (channels_last)
    return batch_norm2d_nhwc(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
  return batch_norm2d(amp::autocast_to_f32(x), weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

void LayoutBatchNorm2d::after_load_state_dict() {
  BatchNorm2d::after_load_state_dict();
  batches_seen_ = -1;
}

std::vector<int64_t> ResNetConfig::stage_channels() const {
  std::vector<int64_t> out;
  for (int64_t p : planes) out.push_back(p * expansion);
  return out;
}

std::string ResNetConfig::str() const {
  std::string b, p;
  for (size_t i = 0; i < blocks.size(); ++i) b += cat(i ? "," : "", blocks[i]);
  for (size_t i = 0; i < planes.size(); ++i) p += cat(i ? "," : "", planes[i]);
  return cat("ResNet(blocks [", b, "], stem ", stem_width, ", planes [", p, "], expansion ", expansion, ", classes ",
             num_classes, channels_last ? ", channels_last" : "", ")");
}

ResNetConfig ResNetConfig::resnet50(int64_t num_classes) {
  ResNetConfig c;
  c.num_classes = num_classes;
  return c;
}

ResNetConfig ResNetConfig::tiny(int64_t num_classes) {
  ResNetConfig c;
  c.blocks = {1, 1, 1, 1};
  c.stem_width = 8;
  c.planes = {4, 8, 16, 32};
  c.num_classes = num_classes;
  return c;
}

// ---------------------------------------------------------------- Bottleneck
Bottleneck::Bottleneck(int64_t cin, int64_t planes, int64_t expansion, int stride) {
  const int64_t cout = planes * expansion;
  conv1 = register_module("conv1", make_conv(cin, planes, 1, 1, 0));
  bn1 = register_module("bn1", make_bn(planes));
  conv2 = register_module("conv2", make_conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", make_bn(planes));
  conv3 = register_module("conv3", make_conv(planes, cout, 1, 1, 0));
  bn3 = register_module("bn3", make_bn(cout));
  if (stride != 1 || cin != cout) {
    downsample = register_module("downsample", std::make_shared<Sequential>());
    downsample->push_back(make_conv(cin, cout, 1, stride, 0));
    downsample->push_back(make_bn(cout));
  }
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor h = relu(bn1->forward(conv1->forward(x)));
  h = relu(bn2->forward(conv2->forward(h)));
  h = bn3->forward(conv3->forward(h));
  Tensor identity = downsample ? downsample->forward(x) : x;
  if (identity.dtype() != h.dtype()) identity = identity.to(h.dtype());  // autocast: BN returns f32
  return relu(add(h, identity));
}

// ---------------------------------------------------------------- ResNet
ResNet::ResNet(const ResNetConfig& cfg) : config(cfg) {
  IQA_CHECK(cfg.blocks.size() == 4 && cfg.planes.size() == 4, "ResNet: need 4 stages, got ", cfg.str());
  IQA_CHECK(cfg.stem_width > 0 && cfg.expansion > 0 && cfg.num_classes >= 0, "ResNet: bad config ", cfg.str());
  for (int s = 0; s < 4; ++s)
    IQA_CHECK(cfg.blocks[s] > 0 && cfg.planes[s] > 0, "ResNet: stage ", s + 1, " is empty in ", cfg.str());
  conv1 = register_module("conv1", make_conv(3, cfg.stem_width, 7, 2, 3));
  bn1 = register_module("bn1", make_bn(cfg.stem_width));
  int64_t cin = cfg.stem_width;
  std::shared_ptr<Sequential>* stages[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int s = 0; s < 4; ++s) {
    auto layer = std::make_shared<Sequential>();
    for (int64_t b = 0; b < cfg.blocks[s]; ++b) {
      int stride = (b == 0 && s > 0) ? 2 : 1;
      layer->push_back(std::make_shared<Bottleneck>(cin, cfg.planes[s], cfg.expansion, stride));
      cin = cfg.planes[s] * cfg.expansion;
    }
    *stages[s] = register_module(cat("layer", s + 1), layer);
  }
  if (cfg.channels_last) set_layout(*this, true);
  if (cfg.num_classes > 0) fc = register_module("fc", std::make_shared<Linear>(cin, cfg.num_classes));
}

ResNetFeatures ResNet::features(const Tensor& x) {
  IQA_CHECK(x.dim() == 4 && x.size(1) == 3, "ResNet: input ", x.str(), " must be [B, 3, H, W]");
  ResNetFeatures f;
  const bool cl = config.channels_last;
  // Channels-last transposes the input once (after the autocast cast, so in the narrower dtype); the
  // layers carry the layout from there.
  Tensor h = cl ? amp::autocast(x).permute({0, 2, 3, 1}).contiguous() : x;
  h = relu(bn1->forward(conv1->forward(h)));
  h = cl ? max_pool2d_nhwc(h, 3, 2, 1) : max_pool2d(h, 3, 2, 1);
  Tensor s1 = layer1->forward(h);
  Tensor s2 = layer2->forward(s1);
  Tensor s3 = layer3->forward(s2);
  Tensor s4 = layer4->forward(s3);
  f.pooled = cl ? global_avg_pool2d_nhwc(s4) : mean(s4, {2, 3});
  if (fc) f.logits = fc->forward(f.pooled);
  // NCHW-shaped stage outputs in both layouts; for NHWC a free view (ResNetFeatures).
  auto as_nchw = [cl](const Tensor& t) { return cl ? t.permute({0, 3, 1, 2}) : t; };
  f.layer1 = as_nchw(s1), f.layer2 = as_nchw(s2), f.layer3 = as_nchw(s3), f.layer4 = as_nchw(s4);
  return f;
}

void ResNet::set_channels_last(bool on) {
  config.channels_last = on;
  set_layout(*this, on);
}

Tensor ResNet::forward(const Tensor& x) {
  ResNetFeatures f = features(x);
  return f.logits.defined() ? f.logits : f.pooled;
}

}  // namespace iqa::models
