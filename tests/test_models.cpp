// Parity with PyTorch: the tiny models of tools/make_fixtures.py (random weights, fixed inputs) must
// give the same outputs and gradients here. CPU fp32: outputs 1e-4, gradients 1e-3 (relative, max
// norm); CPU f64: 1e-5 (the references are f64 results rounded to f32); CUDA bf16 autocast: 2e-2.
#include "models/checkpoint_names.h"
#include "models/clip_vit.h"
#include "models/dsmix.h"
#include "models/sind.h"
#include "tests/resnet_parity.h"

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

void resnet_case(const ParityOptions& o) { resnet_parity_case(o, false); }

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

// One section per CPU precision.
void on_cpu_f32_and_f64(void (*parity_case)(const ParityOptions&)) {
  SECTION("f32") { parity_case(cpu_f32()); }
  SECTION("f64") { parity_case(cpu_f64()); }
}

}  // namespace

TEST_CASE("CLIP ViT matches Hugging Face CLIPVisionModelWithProjection (CPU f32 and f64)", "[models]") { on_cpu_f32_and_f64(clip_hf_case); }

TEST_CASE("SIND LocalGlobal matches the reference model in OpenCLIP layout (CPU f32 and f64)", "[models]") { on_cpu_f32_and_f64(local_global_case); }

TEST_CASE("DSM predictor matches a no-CLS OpenCLIP-layout tower with a token-wise decoder", "[models]") { on_cpu_f32_and_f64(dsm_case); }

TEST_CASE("ResNet matches a torchvision-layout Bottleneck ResNet in train and eval mode", "[models]") { on_cpu_f32_and_f64(resnet_case); }

TEST_CASE("model parity on CUDA with bf16 autocast", "[models][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  SECTION("CLIP ViT (HF)") { clip_hf_case(cuda_bf16()); }
  SECTION("SIND LocalGlobal") { local_global_case(cuda_bf16()); }
  SECTION("DSM predictor") { dsm_case(cuda_bf16()); }
  SECTION("ResNet") { resnet_case(cuda_bf16()); }
}

namespace {
// An 8x8-input ViT with 4x4 patches (4 tokens), 2 heads, no CLS token and no projection.
VisionTransformerConfig tokens_only_vit(int64_t width, int64_t layers) {
  VisionTransformerConfig c = VisionTransformerConfig::tiny(4, 8);
  c.class_token = false;
  c.output_dim = 0;
  c.width = width;
  c.heads = 2;
  c.layers = layers;
  return c;
}
}  // namespace

// The DSM encoder's timm-style embedding (pre_norm = false, patch_bias = true): no ln_pre, a bias on
// the patch embedding. With no blocks the tower is ln_post(conv1(x) + bias + pos) per token, worked
// out here with loops in f64.
TEST_CASE("ViT without ln_pre and with a biased patch embedding (the DSM encoder's embedding)", "[models]") {
  VisionTransformerConfig c = tokens_only_vit(6, 0);
  c.pre_norm = false;
  c.patch_bias = true;
  VisionTransformer vit(c);
  bool has_ln_pre = false, has_bias = false;
  for (const auto& [name, t] : vit.state_dict()) {
    has_ln_pre |= name.rfind("ln_pre.", 0) == 0;
    has_bias |= name == "conv1.bias";
  }
  CHECK_FALSE(has_ln_pre);
  CHECK(has_bias);
  {  // the CLIP default keeps ln_pre and has no patch bias
    VisionTransformerConfig clip = c;
    clip.pre_norm = true;
    clip.patch_bias = false;
    VisionTransformer v(clip);
    bool ln = false, bias = false;
    for (const auto& [name, t] : v.state_dict()) ln |= name == "ln_pre.weight", bias |= name == "conv1.bias";
    CHECK((ln && !bias));
  }
  CHECK(!VisionTransformerConfig::vit_b8_no_cls().pre_norm);
  CHECK(VisionTransformerConfig::vit_b8_no_cls().patch_bias);
  CHECK(!DSMPredictorConfig::tiny(64).encoder.pre_norm);

  vit.to(DType::F64);
  {
    NoGradGuard ng;  // non-trivial LayerNorm affine, so the test sees it
    vit.ln_post->weight.copy_(Tensor::randn({6}, DType::F64));
    vit.ln_post->bias.copy_(Tensor::randn({6}, DType::F64));
  }
  const Tensor x = Tensor::randn({2, 3, 8, 8}, DType::F64);
  const std::vector<double> got = vit.forward(x).to_vector_f64();  // [2, 4 tokens, 6]
  const std::vector<double> xv = x.to_vector_f64(), w = vit.conv1->weight.to_vector_f64(),
                            b = vit.conv1->bias.to_vector_f64(), pos = vit.positional_embedding.to_vector_f64(),
                            g = vit.ln_post->weight.to_vector_f64(), beta = vit.ln_post->bias.to_vector_f64();
  REQUIRE(got.size() == 2 * 4 * 6);
  double worst = 0;
  for (int n = 0; n < 2; ++n)
    for (int t = 0; t < 4; ++t) {
      const int py = t / 2, px = t % 2;
      double h[6], mean = 0, var = 0;
      for (int o = 0; o < 6; ++o) {
        h[o] = b[o] + pos[t * 6 + o];
        for (int ch = 0; ch < 3; ++ch)
          for (int ky = 0; ky < 4; ++ky)
            for (int kx = 0; kx < 4; ++kx)
              h[o] += w[((o * 3 + ch) * 4 + ky) * 4 + kx] * xv[((n * 3 + ch) * 8 + py * 4 + ky) * 8 + px * 4 + kx];
        mean += h[o] / 6;
      }
      for (int o = 0; o < 6; ++o) var += (h[o] - mean) * (h[o] - mean) / 6;
      for (int o = 0; o < 6; ++o) {
        const double want = (h[o] - mean) / std::sqrt(var + c.ln_eps) * g[o] + beta[o];
        worst = std::max(worst, std::abs(got[size_t((n * 4 + t) * 6 + o)] - want));
      }
    }
  CHECK(worst < 1e-12);
}

TEST_CASE("ViT with a convolutional stem (the demo's DSM predictor)", "[models]") {
  {  // the tiny predictor's names and shapes: stem.{0,2} (ReLUs between), conv1 over 16 channels
    VisionTransformer tiny(DSMPredictorConfig::tiny(64).encoder);
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : tiny.state_dict()) shapes[name] = t.shape();
    CHECK(shapes.at("stem.0.weight") == Shape{16, 3, 3, 3});
    CHECK(shapes.at("stem.0.bias") == Shape{16});
    CHECK(shapes.at("stem.2.weight") == Shape{16, 16, 3, 3});
    CHECK(shapes.at("conv1.weight") == Shape{64, 16, 8, 8});
    CHECK(VisionTransformerConfig::vit_b8_no_cls().stem_channels.empty());  // the full-size encoder has none
  }
  // Wiring: a 3-channel stem whose conv is the identity makes the tower see relu(x), so with the
  // other weights shared it must equal the stem-less tower on relu(x).
  VisionTransformerConfig c = tokens_only_vit(8, 1);
  VisionTransformer plain(c);
  c.stem_channels = {3};
  VisionTransformer stemmed(c);
  plain.to(DType::F64);
  stemmed.to(DType::F64);
  stemmed.load_state_dict(plain.state_dict(), /*strict=*/false);
  {
    NoGradGuard ng;
    std::vector<double> identity(3 * 3 * 3 * 3, 0.0);
    for (int ch = 0; ch < 3; ++ch) identity[size_t(((ch * 3 + ch) * 3 + 1) * 3 + 1)] = 1.0;
    auto& conv = dynamic_cast<Conv2d&>((*stemmed.stem)[0]);
    conv.weight.copy_(Tensor::from_vector_f64(identity, {3, 3, 3, 3}));
    conv.bias.copy_(Tensor::zeros({3}, DType::F64));
  }
  const Tensor x = Tensor::randn({2, 3, 8, 8}, DType::F64);
  const std::vector<double> got = stemmed.forward(x).to_vector_f64(), want = plain.forward(relu(x)).to_vector_f64();
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  CHECK(worst < 1e-12);
  // and it differs from the tower on x itself (the ReLU is there)
  const std::vector<double> raw = plain.forward(x).to_vector_f64();
  double diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, std::abs(got[i] - raw[i]));
  CHECK(diff > 1e-3);
}
