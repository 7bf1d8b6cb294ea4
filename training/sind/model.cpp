#include "training/sind/model.h"

#include "engine/error.h"
#include "engine/safetensors.h"
#include "models/checkpoint_names.h"

namespace iqa::training {

using namespace iqa::models;

namespace {

VisionTransformerConfig vit_config(ClipModel model) {
  switch (model) {
    case ClipModel::ViTB16: return VisionTransformerConfig::vit_b16();
    case ClipModel::ViTB8: {
      VisionTransformerConfig c = VisionTransformerConfig::vit_b16();
      c.patch_size = 8;
      return c;
    }
    case ClipModel::Tiny: return VisionTransformerConfig::tiny(32, 224);
    // The demo's model: the same width-64, 2-layer ViT with 16-pixel patches (196 tokens at 224), fine
    // enough to see pixel-level noise that 32-pixel patches average away.
    case ClipModel::Tiny16: return VisionTransformerConfig::tiny(16, 224);
    case ClipModel::ResNet50: break;
  }
  throw Error(std::string("make_sind_model: '") + choice_name(model) + "' is not a ViT");
}

}  // namespace

namespace {
std::shared_ptr<QualityModel> build_sind_model(const SindConfig& cfg) {
  if (cfg.clip_model == ClipModel::ResNet50) {
    IQA_CHECK(!cfg.local_global, "make_sind_model: --local_global needs a CLIP ViT, not resnet50 (SimpleResNet)");
    return std::make_shared<SimpleResNetIQA>(ResNetConfig::resnet50(0));
  }
  const VisionTransformerConfig vc = vit_config(cfg.clip_model);
  if (cfg.local_global) return std::make_shared<LocalGlobalIQA>(vc, cfg.all_global);
  return std::make_shared<SimpleClipIQA>(vc);
}
}  // namespace

std::shared_ptr<QualityModel> make_sind_model(const SindConfig& cfg) {
  std::shared_ptr<QualityModel> model = build_sind_model(cfg);
  // --clip_freeze, as the reference's load_clip_model: the backbone's parameters stop requiring
  // gradients, so they drop out of the optimizer and the EMA and only the head trains.
  if (cfg.clip_freeze)
    for (auto& [name, p] : model->named_parameters())
      if (name.rfind("clip_model.", 0) == 0) p.set_requires_grad(false);
  return model;
}

std::string load_sind_pretrained(QualityModel& model, const SindConfig& cfg) {
  if (cfg.pretrained.empty()) return "";
  const auto tensors = load_safetensors(cfg.pretrained);
  bool whole_model = false;
  for (const auto& [name, t] : tensors) {
    const std::string n = name.rfind("module.", 0) == 0 ? name.substr(7) : name;
    if (n.rfind("head.", 0) == 0) whole_model = true;
  }
  LoadReport report;
  if (whole_model) {
    report = load_sind_reference(model, tensors, true, cfg.pretrained);
  } else if (auto* lg = dynamic_cast<LocalGlobalIQA*>(&model)) {
    report = load_clip_visual(lg->encoder(), tensors, WeightNaming::Auto, true, cfg.pretrained);
  } else if (auto* sc = dynamic_cast<SimpleClipIQA*>(&model)) {
    report = load_clip_visual(sc->encoder(), tensors, WeightNaming::Auto, true, cfg.pretrained);
  } else if (auto* rn = dynamic_cast<SimpleResNetIQA*>(&model)) {
    report = load_torchvision_resnet(*rn->clip_model, tensors, true, cfg.pretrained);
  } else {
    throw Error("load_sind_pretrained: unsupported model type " + model.type_name());
  }
  return report.summary();
}

ParamSplit split_sind_parameters(const QualityModel& model) {
  ParamSplit s;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.requires_grad()) continue;
    (name.rfind("clip_model.", 0) == 0 ? s.backbone : s.head).push_back(p);
  }
  // The backbone group is empty under --clip_freeze (the reference's filter on requires_grad).
  IQA_CHECK(!s.head.empty(), "split_sind_parameters: expected head.* parameters in ", model.type_name());
  return s;
}

}  // namespace iqa::training
