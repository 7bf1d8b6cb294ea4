// torchvision ResNet (Bottleneck): construction with torchvision's init, forward with stage outputs.
#include "models/resnet.h"

#include <cmath>

#include "engine/autograd.h"

namespace iqa::models {

namespace {
// torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") on every conv.
std::shared_ptr<Conv2d> make_conv(int64_t cin, int64_t cout, int k, int stride, int padding) {
  auto c = std::make_shared<Conv2d>(cin, cout, k, stride, padding, 1, 1, /*bias=*/false);
  NoGradGuard ng;
  c->weight.copy_(mul(Tensor::randn(c->weight.shape()), std::sqrt(2.0 / double(cout * k * k))));
  return c;
}
}  // namespace

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
             num_classes, ")");
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
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", make_conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv3 = register_module("conv3", make_conv(planes, cout, 1, 1, 0));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(cout));
  if (stride != 1 || cin != cout) {
    downsample = register_module("downsample", std::make_shared<Sequential>());
    downsample->push_back(make_conv(cin, cout, 1, stride, 0));
    downsample->push_back(std::make_shared<BatchNorm2d>(cout));
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
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(cfg.stem_width));
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
  if (cfg.num_classes > 0) fc = register_module("fc", std::make_shared<Linear>(cin, cfg.num_classes));
}

ResNetFeatures ResNet::features(const Tensor& x) {
  IQA_CHECK(x.dim() == 4 && x.size(1) == 3, "ResNet: input ", x.str(), " must be [B, 3, H, W]");
  ResNetFeatures f;
  Tensor h = relu(bn1->forward(conv1->forward(x)));
  h = max_pool2d(h, 3, 2, 1);
  f.layer1 = layer1->forward(h);
  f.layer2 = layer2->forward(f.layer1);
  f.layer3 = layer3->forward(f.layer2);
  f.layer4 = layer4->forward(f.layer3);
  f.pooled = mean(f.layer4, {2, 3});
  if (fc) f.logits = fc->forward(f.pooled);
  return f;
}

Tensor ResNet::forward(const Tensor& x) {
  ResNetFeatures f = features(x);
  return f.logits.defined() ? f.logits : f.pooled;
}

}  // namespace iqa::models
