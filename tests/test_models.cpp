// Parity with PyTorch: the tiny models of tools/make_fixtures.py (random weights, fixed inputs) must
// give the same outputs and gradients here. CPU fp32: outputs 1e-4, gradients 1e-3 (relative, max
// norm); CPU f64: 1e-5 (the references are f64 results rounded to f32); CUDA bf16 autocast: 2e-2.
#include "models/checkpoint_names.h"
#include "models/clip_vit.h"
#include "models/dsmix.h"
#include "models/resnet.h"
#include "models/sind.h"
#include "tests/model_fixtures.h"

using namespace iqa;
using namespace iqa::models;
using namespace iqa::testing;

namespace {

VisionTransformerConfig vit_config(const ModelFixture& f, bool class_token, int64_t output_dim) {
  VisionTransformerConfig c = VisionTransformerConfig::tiny(f.cfg("patch"), f.cfg("image"));
  c.width = f.cfg("width");
  c.layers = f.cfg("layers");
  c.heads = f.cfg("heads");
  c.class_token = class_token;
  c.output_dim = output_dim;
  return c;
}

ResNetConfig resnet_config(const ModelFixture& f) {
  ResNetConfig c;
  c.blocks = f.config.at("blocks").get<std::vector<int64_t>>();
  c.planes = f.config.at("planes").get<std::vector<int64_t>>();
  c.stem_width = f.cfg("stem");
  c.num_classes = f.cfg("num_classes");
  return c;
}

// ---- one parity case per fixture; `o` picks device / precision / tolerances
void clip_hf_case(const ParityOptions& o) {
  ModelFixture f = open_model_fixture("clip_vit_hf");
  VisionTransformer vit(vit_config(f, true, f.cfg("output_dim")));
  LoadReport r = load_clip_visual(vit, f.with_prefix("param."), WeightNaming::Auto, true, "clip_vit_hf");
  REQUIRE(r.clean());
  REQUIRE(r.skipped == std::vector<std::string>{"vision_model.embeddings.position_ids"});
  // Gradients are stored under Hugging Face names too: the same translation merges dq/dk/dv.
  TensorMap grads = clip_visual_from_huggingface(f.with_prefix("grad."));
  check_parity(vit, f, [&](const TensorMap& in) {
    VisionTransformerOutput out = vit.encode(in.at("x"));
    return TensorMap{{"pooled", out.pooled}, {"tokens", out.tokens}};
  }, grads, o);
}

void local_global_case(const ParityOptions& o) {
  ModelFixture f = open_model_fixture("sind_local_global");
  LocalGlobalIQA model(vit_config(f, true, f.cfg("output_dim")));
  LoadReport r = load_sind_reference(model, f.with_prefix("param."), true, "sind_local_global");
  REQUIRE(r.clean());
  REQUIRE(r.skipped.size() == 3);  // the text-tower stand-ins
  check_parity(model, f, [&](const TensorMap& in) {
    return TensorMap{{"score", model.score(in.at("x_global"), in.at("x_local"))}};
  }, f.with_prefix("grad."), o);
}

void dsm_case(const ParityOptions& o) {
  ModelFixture f = open_model_fixture("dsm_predictor_tiny");
  DSMPredictorConfig c;
  c.encoder = vit_config(f, false, 0);
  DSMPredictor model(c);
  REQUIRE(load_weights(model, f.with_prefix("param."), true).clean());
  check_parity(model, f, [&](const TensorMap& in) { return TensorMap{{"map", model.forward(in.at("x"))}}; },
               f.with_prefix("grad."), o);
}

void resnet_case(const ParityOptions& o) {
  ModelFixture f = open_model_fixture("resnet_tiny");
  ResNet model(resnet_config(f));
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

ParityOptions cpu_f32() { return ParityOptions{}; }
ParityOptions cpu_f64() {
  ParityOptions o;
  o.dtype = DType::F64;
  o.output_tol = o.grad_tol = 1e-5;
  return o;
}
ParityOptions cuda_bf16() {
  ParityOptions o;
  o.device = cuda_device(0);
  o.autocast = DType::BF16;
  o.output_tol = o.grad_tol = 2e-2;
  return o;
}

}  // namespace

TEST_CASE("CLIP ViT matches Hugging Face CLIPVisionModelWithProjection (CPU f32 and f64)", "[models]") {
  SECTION("f32") { clip_hf_case(cpu_f32()); }
  SECTION("f64") { clip_hf_case(cpu_f64()); }
}

TEST_CASE("SIND LocalGlobal matches the reference model in OpenCLIP layout (CPU f32 and f64)", "[models]") {
  SECTION("f32") { local_global_case(cpu_f32()); }
  SECTION("f64") { local_global_case(cpu_f64()); }
}

TEST_CASE("DSM predictor matches a no-CLS OpenCLIP-layout tower with a token-wise decoder", "[models]") {
  SECTION("f32") { dsm_case(cpu_f32()); }
  SECTION("f64") { dsm_case(cpu_f64()); }
}

TEST_CASE("ResNet matches a torchvision-layout Bottleneck ResNet in train and eval mode", "[models]") {
  SECTION("f32") { resnet_case(cpu_f32()); }
  SECTION("f64") { resnet_case(cpu_f64()); }
}

TEST_CASE("model parity on CUDA with bf16 autocast", "[models][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  SECTION("CLIP ViT (HF)") { clip_hf_case(cuda_bf16()); }
  SECTION("SIND LocalGlobal") { local_global_case(cuda_bf16()); }
  SECTION("DSM predictor") { dsm_case(cuda_bf16()); }
  SECTION("ResNet") { resnet_case(cuda_bf16()); }
}
