// Model construction (full-size parameter counts and names) and pretrained loading in every naming:
// OpenCLIP, Hugging Face, torchvision, SIND reference, native; the error for a bad checkpoint and
// non-strict mode.
#include <cstdio>
#include <filesystem>
#include <set>
#include <unistd.h>  // getpid: ctest runs test cases as parallel processes

#include "models/checkpoint_names.h"
#include "models/dsmix.h"
#include "tests/model_fixtures.h"

using namespace iqa;
using namespace iqa::models;
using namespace iqa::testing;

namespace {
int64_t count_params(const Module& m) {
  int64_t n = 0;
  for (auto& p : m.parameters()) n += p.numel();
  return n;
}

bool has_name(const NamedTensors& nt, const std::string& name) {
  for (auto& [n, _] : nt)
    if (n == name) return true;
  return false;
}

VisionTransformerConfig tiny_hf_config() { return VisionTransformerConfig::tiny(8, 32); }  // clip_vit_hf's sizes

void require_same_state(const Module& a, const Module& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    REQUIRE(sa[i].first == sb[i].first);
    REQUIRE(max_rel_error(sa[i].second, sb[i].second) == 0);
  }
}

}  // namespace

TEST_CASE("full-size models have the published parameter counts and OpenCLIP / torchvision names", "[models]") {
  LocalGlobalIQA lg;  // default: ViT-B/16
  VisionTransformer& b16 = lg.encoder();
  REQUIRE(count_params(b16) == 86192640);  // OpenAI CLIP ViT-B/16 visual tower
  auto sd = b16.state_dict();
  for (const char* n : {"class_embedding", "positional_embedding", "proj", "conv1.weight", "ln_pre.weight",
                        "transformer.resblocks.0.attn.in_proj_weight", "transformer.resblocks.11.attn.out_proj.bias",
                        "transformer.resblocks.5.mlp.c_fc.weight", "transformer.resblocks.5.mlp.c_proj.bias",
                        "transformer.resblocks.3.ln_2.bias", "ln_post.weight"})
    REQUIRE(has_name(sd, n));
  REQUIRE(!has_name(sd, "conv1.bias"));
  REQUIRE(b16.positional_embedding.shape() == Shape{197, 768});
  REQUIRE(b16.proj.shape() == Shape{768, 512});

  // ViT-B/8 without CLS differs from B/16 only in its embeddings; built without blocks to stay cheap.
  VisionTransformerConfig b8_cfg = VisionTransformerConfig::vit_b8_no_cls();
  REQUIRE(b8_cfg.width == 768);
  REQUIRE(b8_cfg.layers == 12);
  REQUIRE(b8_cfg.heads == 12);
  b8_cfg.layers = 0;
  VisionTransformer b8(b8_cfg);
  REQUIRE(b8.positional_embedding.shape() == Shape{784, 768});
  REQUIRE(b8.conv1->weight.shape() == Shape{768, 3, 8, 8});
  REQUIRE(!b8.class_embedding.defined());
  REQUIRE(!b8.proj.defined());

  ResNet r50(ResNetConfig::resnet50());
  REQUIRE(count_params(r50) == 25557032);  // torchvision resnet50
  auto rs = r50.state_dict();
  REQUIRE(rs.size() == 320);  // torchvision's resnet50 state dict has 320 entries
  for (const char* n : {"conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight",
                        "layer1.0.downsample.1.num_batches_tracked", "layer3.5.conv3.weight", "layer4.2.bn3.bias",
                        "fc.weight", "fc.bias"})
    REQUIRE(has_name(rs, n));
  // v1.5: the stride of a stage's first block sits on its 3x3 conv, and on the downsample conv.
  auto& block = static_cast<Bottleneck&>((*r50.layer2)[0]);
  REQUIRE(block.conv1->stride == 1);
  REQUIRE(block.conv2->stride == 2);
  REQUIRE(static_cast<Conv2d&>((*block.downsample)[0]).stride == 2);

  REQUIRE(count_params(lg) == 86192640 + 1281);  // sind.md §1.4: the head has 1281 parameters
  REQUIRE(has_name(lg.state_dict(), "head.quality_predictor.0.weight"));
  REQUIRE(has_name(lg.state_dict(), "clip_model.visual.transformer.resblocks.0.attn.in_proj_weight"));
  const VisionTransformerConfig tiny = VisionTransformerConfig::tiny();
  REQUIRE(count_params(*LocalGlobalIQA(tiny, true).head) == 2 * tiny.output_dim + 1);  // all_global
  REQUIRE(count_params(*SimpleClipIQA(tiny).head) == tiny.output_dim + 1);
  REQUIRE(count_params(*SimpleResNetIQA(ResNetConfig::tiny()).head) == 128 + 1);
}

TEST_CASE("tiny SIND and DSMix models give outputs of the right shapes", "[models]") {
  manual_seed(3);
  VisionTransformerConfig c = VisionTransformerConfig::tiny(16, 32);
  Tensor x = Tensor::rand({3, 3, 32, 32}), y = Tensor::rand({3, 3, 32, 32});
  LocalGlobalIQA lg(c);
  REQUIRE(lg.score(x, y).shape() == Shape{3, 1});
  // all_global: head on [CLS(x); CLS(y)] -> same as applying the Linear by hand.
  LocalGlobalIQA ag(c, true);
  Tensor g = ag.encoder().encode(x).pooled, l = ag.encoder().encode(y).pooled;
  Tensor by_hand = linear(concat({g, l}, 1), static_cast<Linear&>((*ag.head->quality_predictor)[0]).weight,
                          static_cast<Linear&>((*ag.head->quality_predictor)[0]).bias);
  require_rel(ag.score(x, y), by_hand, 1e-6, "all_global score");
  REQUIRE(SimpleClipIQA(c).score(x, y).shape() == Shape{3, 1});
  REQUIRE(SimpleResNetIQA(ResNetConfig::tiny()).score(x, y).shape() == Shape{3, 1});

  QualityEncoderConfig qc;
  qc.backbone = ResNetConfig::tiny();
  qc.head_hidden = 16;
  QualityEncoder qe(qc);
  QualityEncoderOutput o = qe.run(x);
  REQUIRE(o.type_logits.shape() == Shape{3, 26});
  REQUIRE(o.level_logits.shape() == Shape{3, 6});
  REQUIRE(o.features.layer4.shape() == Shape{3, 128, 1, 1});
  REQUIRE(has_name(qe.state_dict(), "type_head.2.weight"));
  REQUIRE(has_name(qe.state_dict(), "backbone.layer4.0.bn3.running_mean"));
  REQUIRE(!has_name(qe.state_dict(), "backbone.fc.weight"));
  REQUIRE(LinearProbeHead(128, 16).forward(o.features.pooled).shape() == Shape{3, 1});

  REQUIRE_THROWS_AS(DSMPredictor(DSMPredictorConfig{c, {}, Activation::GELU}), Error);  // has CLS: rejected
  REQUIRE_THROWS_AS(lg.encoder().encode(Tensor::rand({1, 3, 48, 48})), Error);
}

TEST_CASE("CLIP weights load from OpenCLIP, Hugging Face and native names alike", "[models]") {
  ModelFixture f = open_model_fixture("clip_vit_hf");
  const TensorMap hf = f.with_prefix("param.");
  VisionTransformer from_hf(tiny_hf_config());
  REQUIRE(detect_clip_naming(hf) == WeightNaming::HuggingFaceCLIP);
  load_clip_visual(from_hf, hf);
  // HF's visual_projection.weight is [out, W]; OpenCLIP's proj is its transpose.
  REQUIRE(max_rel_error(from_hf.proj.transpose(0, 1).contiguous(), hf.at("visual_projection.weight")) == 0);

  // The same weights in OpenCLIP names (plus a text tower that must be skipped), via a file.
  NamedTensors openclip;
  for (auto& [n, t] : from_hf.state_dict()) openclip.push_back({"visual." + n, t});
  openclip.push_back({"transformer.resblocks.0.attn.in_proj_weight", Tensor::zeros({24, 8})});
  openclip.push_back({"logit_scale", Tensor::scalar(4.6)});
  const std::string path = (std::filesystem::temp_directory_path() / ("iqa_test_openclip_" + std::to_string(::getpid()) + ".safetensors")).string();
  save_safetensors(path, openclip);
  VisionTransformer from_openclip(tiny_hf_config());
  LoadReport r = load_pretrained(from_openclip, path);  // Auto: OpenCLIP detected from "visual."
  REQUIRE(r.clean());
  REQUIRE(r.skipped.size() == 2);
  REQUIRE(r.loaded.size() == from_hf.state_dict().size());
  require_same_state(from_hf, from_openclip);

  // Native names (a "module." prefix from DDP is accepted).
  NamedTensors native;
  for (auto& [n, t] : from_hf.state_dict()) native.push_back({"module." + n, t});
  save_safetensors(path, native);
  VisionTransformer from_native(tiny_hf_config());
  REQUIRE(load_pretrained(from_native, path, WeightNaming::Native).clean());
  require_same_state(from_hf, from_native);
  std::filesystem::remove(path);

  // Names that cannot fit the model type.
  REQUIRE_THROWS_AS(load_clip_visual(from_native, hf, WeightNaming::Torchvision), Error);
  REQUIRE(error_of([&] { load_clip_visual(from_native, hf, WeightNaming::SindReference); }).find("does not describe") !=
          std::string::npos);
  REQUIRE(parse_weight_naming("hf") == WeightNaming::HuggingFaceCLIP);
  REQUIRE_THROWS_AS(parse_weight_naming("timm"), Error);
}

TEST_CASE("a bad checkpoint gives one error listing every problem, non-strict loads the rest", "[models]") {
  ModelFixture f = open_model_fixture("clip_vit_hf");
  TensorMap bad = f.with_prefix("param.");
  bad.erase("vision_model.post_layernorm.weight");                          // missing
  bad["vision_model.encoder.layers.0.self_attn.rotary.weight"] = Tensor::zeros({4});  // unknown
  bad["vision_model.embeddings.position_embedding.weight"] = Tensor::zeros({50, 64});  // wrong shape
  bad.erase("vision_model.encoder.layers.1.self_attn.k_proj.weight");       // breaks one q/k/v merge

  VisionTransformer vit(tiny_hf_config());
  const Tensor before = vit.conv1->weight.clone();
  const std::string msg = error_of([&] { load_clip_visual(vit, bad); });
  INFO(msg);
  for (const char* part : {"missing", "ln_post.weight", "transformer.resblocks.1.attn.in_proj_weight", "unexpected",
                           "vision_model.encoder.layers.0.self_attn.rotary.weight",
                           "vision_model.encoder.layers.1.self_attn.q_proj.weight", "shape mismatch",
                           "positional_embedding (checkpoint (50, 64), model (17, 64))"})
    REQUIRE(msg.find(part) != std::string::npos);
  REQUIRE(max_rel_error(vit.conv1->weight, before) == 0);  // strict failure copies nothing

  LoadReport r = load_clip_visual(vit, bad, WeightNaming::Auto, /*strict=*/false);
  REQUIRE(!r.clean());
  REQUIRE(std::set<std::string>(r.missing.begin(), r.missing.end()) ==
          std::set<std::string>{"transformer.resblocks.1.attn.in_proj_weight", "ln_post.weight"});
  REQUIRE(r.mis_shaped.size() == 1);
  REQUIRE(r.unexpected.size() == 3);  // rotary + the orphaned q and v of layer 1
  REQUIRE(r.summary().find("ln_post.weight") != std::string::npos);
  // Everything that matched was copied; the rest kept its initial values.
  REQUIRE(max_rel_error(vit.conv1->weight, bad.at("vision_model.embeddings.patch_embedding.weight")) == 0);
  REQUIRE(vit.ln_post->weight.to_vector() == std::vector<float>(64, 1.0f));

  // CLIPVisionModel (no projection) into a tower that has one: proj is missing.
  TensorMap no_proj = f.with_prefix("param.");
  no_proj.erase("visual_projection.weight");
  REQUIRE(error_of([&] { load_clip_visual(vit, no_proj); }).find("missing [proj]") != std::string::npos);
}

TEST_CASE("torchvision and SIND-reference ResNet names load, fc is skipped by a feature extractor", "[models]") {
  ModelFixture f = open_model_fixture("resnet_tiny");
  const TensorMap tv = f.with_prefix("param.");
  ResNet with_fc(ResNetConfig::tiny(10));
  REQUIRE(load_torchvision_resnet(with_fc, tv).clean());

  ResNet features_only(ResNetConfig::tiny(0));
  LoadReport r = load_torchvision_resnet(features_only, tv);
  REQUIRE(r.clean());
  REQUIRE(r.skipped == std::vector<std::string>{"fc.bias", "fc.weight"});

  // The reference SimpleResNet: nn.Sequential(*resnet.children()[:-1]) numbers conv1=0, bn1=1, layerK=K+3.
  TensorMap sind;
  for (auto& [n, t] : tv) {
    std::string m = n;
    if (n.rfind("fc.", 0) == 0) continue;
    if (n.rfind("conv1.", 0) == 0) m = "0." + n.substr(6);
    else if (n.rfind("bn1.", 0) == 0) m = "1." + n.substr(4);
    else m = std::to_string(n[5] - '0' + 3) + n.substr(6);  // "layerK.rest" -> "(K+3).rest"
    sind["module.clip_model." + m] = t;
  }
  sind["module.head.weight"] = Tensor::full({1, 128}, 0.5);
  sind["module.head.bias"] = Tensor::full({1}, -1.0);
  SimpleResNetIQA model(ResNetConfig::tiny());
  REQUIRE(load_sind_reference(model, sind).clean());
  require_same_state(*model.clip_model, features_only);
  REQUIRE(model.head->bias.item() == -1.0);
}
