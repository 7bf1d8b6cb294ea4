// Autocast (engine/amp.h) on the CPU, which emulates bf16: the op table decides every intermediate's
// dtype in a ViT, the residual stream stays f32, a ViT-B/16 under bf16 stays close to f32, gradients
// reach the parameters as f32, and autocast for CUDA leaves CPU tensors alone.
#include <cmath>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/random.h"
#include "models/clip_vit.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;
using models::VisionTransformer;
using models::VisionTransformerConfig;

namespace {

// What the table says op should return for these input dtypes (f64 and integers are never cast).
DType expected_output(amp::Op op, const std::vector<DType>& inputs, DType low) {
  switch (amp::cast_policy(op)) {
    case amp::CastPolicy::Lower: return low;
    case amp::CastPolicy::F32: return DType::F32;
    case amp::CastPolicy::Promote: break;
  }
  std::optional<DType> widest;
  for (DType t : inputs) {
    if (!is_floating(t) || t == DType::F64) continue;
    widest = !widest || *widest == t ? t : DType::F32;
  }
  return widest.value_or(DType::F32);
}

// max |a - b| / max |b|.
double scaled_error(const Tensor& a, const Tensor& b) {
  std::vector<double> av = a.to_vector_f64(), bv = b.to_vector_f64();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    worst = std::max(worst, std::abs(av[i] - bv[i]));
    scale = std::max(scale, std::abs(bv[i]));
  }
  return worst / scale;
}

}  // namespace

TEST_CASE("autocast table: matmul-like ops lower, norms/softmax/losses/sum f32, elementwise promote", "[amp]") {
  using amp::CastPolicy;
  using amp::Op;
  for (Op op : {Op::Matmul, Op::Linear, Op::LinearGelu, Op::LinearQuickGelu, Op::Conv2d, Op::Attention})
    CHECK(amp::cast_policy(op) == CastPolicy::Lower);
  for (Op op : {Op::LayerNorm, Op::AddLayerNorm, Op::Softmax, Op::LogSoftmax, Op::Sum, Op::Exp, Op::Log, Op::Pow,
                Op::Rsqrt, Op::L1Loss, Op::MseLoss, Op::SmoothL1Loss, Op::CrossEntropy, Op::CrossEntropySoft})
    CHECK(amp::cast_policy(op) == CastPolicy::F32);
  for (Op op : {Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Maximum, Op::Minimum, Op::Where, Op::Concat, Op::Mean,
                Op::Var, Op::Activation})
    CHECK(amp::cast_policy(op) == CastPolicy::Promote);
  CHECK(std::string(amp::op_name(Op::AddLayerNorm)) == "add_layer_norm");

  // Direct ops on the CPU under bf16 autocast.
  amp::AutocastGuard ac(DType::BF16, true, DeviceType::CPU);
  Tensor a = Tensor::randn({4, 8}), b = Tensor::randn({8, 3});
  CHECK(matmul(a, b).dtype() == DType::BF16);
  Tensor low = matmul(a, b);
  CHECK(softmax(low).dtype() == DType::F32);  // the unfused softmax no longer returns bf16
  CHECK(layer_norm(low, Tensor(), Tensor()).dtype() == DType::F32);
  CHECK(add(low, Tensor::zeros({4, 3})).dtype() == DType::F32);  // promote to the widest input
  CHECK(add(low, low).dtype() == DType::BF16);
  CHECK(mse_loss(low, low).dtype() == DType::F32);
  CHECK(sum(low).dtype() == DType::F32);
  CHECK(relu(low).dtype() == DType::BF16);
  Tensor d = Tensor::randn({4, 8}, DType::F64);
  CHECK(matmul(d, b.to(DType::F64)).dtype() == DType::F64);  // f64 is never cast
  // bf16 emulation: the product of bf16-rounded inputs, rounded once.
  std::vector<float> got = low.to_vector();
  Tensor ar = a.to(DType::BF16).to(DType::F32), br = b.to(DType::BF16).to(DType::F32);
  Tensor want;
  {
    amp::SuspendGuard off;
    want = matmul(ar, br).to(DType::BF16).to(DType::F32);
  }
  REQUIRE(got == want.to_vector());
}

TEST_CASE("autocast: every op of a ViT forward returns the dtype its table entry says, the stream is f32",
          "[amp][models]") {
  manual_seed(11);
  VisionTransformer vit(VisionTransformerConfig::tiny(16, 32));
  Tensor x = Tensor::randn({2, 3, 32, 32});
  std::vector<amp::TraceEntry> trace;
  models::VisionTransformerOutput out;
  {
    amp::AutocastGuard ac(DType::BF16, true, DeviceType::CPU);
    amp::set_trace(&trace);
    out = vit.encode(x);
    amp::set_trace(nullptr);
  }
  std::map<amp::Op, int> seen;
  for (const amp::TraceEntry& e : trace) {
    INFO("op " << amp::op_name(e.op));
    REQUIRE(!e.outputs.empty());
    for (DType o : e.outputs) CHECK(o == expected_output(e.op, e.inputs, DType::BF16));
    ++seen[e.op];
  }
  // conv1; concat + add for the embeddings; ln_pre and ln_1; per block qkv, attention, out_proj,
  // c_fc + QuickGELU, c_proj (three linears) and two add_layer_norms (the last into ln_post); the projection.
  CHECK(seen[amp::Op::Conv2d] == 1);
  CHECK(seen[amp::Op::Concat] == 1);
  CHECK(seen[amp::Op::Add] == 1);
  CHECK(seen[amp::Op::LayerNorm] == 2);
  CHECK(seen[amp::Op::Linear] == 3 * 2);
  CHECK(seen[amp::Op::Attention] == 2);
  CHECK(seen[amp::Op::LinearQuickGelu] == 2);
  CHECK(seen[amp::Op::AddLayerNorm] == 2 * 2);
  CHECK(seen[amp::Op::Matmul] == 1);
  // Residual stream and LayerNorm outputs f32 (the tokens are ln_post's output); the projection bf16.
  CHECK(out.tokens.dtype() == DType::F32);
  CHECK(out.pooled.dtype() == DType::BF16);
}

TEST_CASE("autocast: gradients reach the f32 parameters as f32, autocast for CUDA leaves the CPU alone", "[amp]") {
  manual_seed(12);
  VisionTransformer vit(VisionTransformerConfig::tiny(16, 32));
  Tensor x = Tensor::randn({2, 3, 32, 32});
  Tensor ref = vit.forward(x);
  {
    amp::AutocastGuard cuda_only(DType::BF16);  // device CUDA: CPU tensors untouched, bit-identical
    REQUIRE(vit.forward(x).to_vector() == ref.to_vector());
  }
  Tensor loss;
  {
    amp::AutocastGuard ac(DType::BF16, true, DeviceType::CPU);
    loss = sum(vit.forward(x));
  }
  CHECK(loss.dtype() == DType::F32);
  loss.backward();
  for (auto& [name, p] : vit.named_parameters()) {
    INFO("parameter " << name);
    REQUIRE(p.grad().defined());
    CHECK(p.grad().dtype() == DType::F32);
  }
}

TEST_CASE("autocast: ViT-B/16 under bf16 (CPU emulation) stays within 2e-2 of f32", "[amp][models][slow]") {
  manual_seed(13);
  VisionTransformer vit(VisionTransformerConfig::vit_b16());
  NoGradGuard ng;
  Tensor x = Tensor::randn({1, 3, 224, 224});
  models::VisionTransformerOutput f32 = vit.encode(x), low;
  {
    amp::AutocastGuard ac(DType::BF16, true, DeviceType::CPU);
    low = vit.encode(x);
  }
  const double pooled = scaled_error(low.pooled.to(DType::F32), f32.pooled);
  const double tokens = scaled_error(low.tokens, f32.tokens);
  INFO("pooled " << pooled << ", tokens " << tokens);
  CHECK(pooled < 2e-2);
  CHECK(tokens < 2e-2);
  CHECK(pooled > 0);  // the emulation did round
}
