// The ResNet parity case against tools/make_fixtures.py's resnet_tiny fixture, shared by the NCHW
// (tests/test_models.cpp) and channels-last (tests/test_resnet_nhwc.cpp) suites: eval-mode logits from
// the checkpoint's running statistics, then one train-mode step (outputs, gradients, running statistics).
#pragma once
#include <optional>

#include "models/checkpoint_names.h"
#include "models/resnet.h"
#include "tests/model_fixtures.h"

namespace iqa::testing {

inline models::ResNetConfig resnet_fixture_config(const ModelFixture& f, bool channels_last) {
  models::ResNetConfig c;
  c.blocks = f.config.at("blocks").get<std::vector<int64_t>>();
  c.planes = f.config.at("planes").get<std::vector<int64_t>>();
  c.stem_width = f.cfg("stem");
  c.num_classes = f.cfg("num_classes");
  c.channels_last = channels_last;
  return c;
}

inline void resnet_parity_case(const ParityOptions& o, bool channels_last) {
  using namespace models;
  ModelFixture f = open_model_fixture("resnet_tiny");
  ResNet model(resnet_fixture_config(f, channels_last));
  REQUIRE(load_torchvision_resnet(model, f.with_prefix("param."), true, "resnet_tiny").clean());
  model.to(o.dtype);
  model.to(o.device);
  {  // eval mode: the checkpoint's running statistics
    NoGradGuard ng;
    model.eval();
    std::optional<amp::AutocastGuard> guard;
    if (o.autocast) guard.emplace(*o.autocast);
    Tensor logits = model.features(f.get("input.x").to(o.device, o.dtype)).logits;
    require_rel(logits.to(DType::F32), f.get("eval.logits"), o.output_tol, "eval-mode logits");
  }
  model.train();  // batch statistics, and one update of the running statistics
  check_parity(model, f, [&](const TensorMap& in) {
    ResNetFeatures r = model.features(in.at("x"));
    return TensorMap{{"layer1", r.layer1}, {"layer2", r.layer2}, {"layer3", r.layer3},
                     {"layer4", r.layer4}, {"pooled", r.pooled}, {"logits", r.logits}};
  }, f.with_prefix("grad."), o);
  TensorMap after = f.with_prefix("after.");
  REQUIRE(after.size() == 2 * 17);  // stem + 3 per block + 1 per downsample, 4 stages
  for (auto& [n, t] : model.named_buffers()) {
    if (n.find("num_batches_tracked") != std::string::npos) {
      REQUIRE(t.item() == 8);  // 7 in the checkpoint + this forward
      continue;
    }
    require_rel(t, after.at(n), o.output_tol, "running statistic " + n);
  }
}

}  // namespace iqa::testing
