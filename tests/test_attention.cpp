// Fused scaled-dot-product attention: the CPU paths (f32: GEMM per head; f64: the row-by-row
// reference) against an f64 computation written here
// (forward and gradients), finite-difference gradient checks, dispatch and layouts; on a GPU the CUDA
// kernels against the CPU reference under FlashAttention's rule (error at most twice that of an
// unfused computation in the same precision).
#include <array>
#include <cmath>
#include <limits>

#include "engine/random.h"
#include "kernels/attention.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

// A tensor as a kernel operand (kernels/operand.h), writable unless Ptr is const void*.
template <int Rank, class Ptr = void*>
kernels::BasicOperand<Ptr, Rank> operand_of(const Tensor& t) {
  kernels::BasicOperand<Ptr, Rank> op;
  op.data = t.raw_data();
  for (int d = 0; d < Rank; ++d) op.shape[d] = t.shape()[d], op.strides[d] = t.strides()[d];
  return op;
}

struct AttentionRef {
  std::vector<double> out, dq, dk, dv;
};

// softmax(q k^T * scale) v and its gradients for upstream gradient `gout`, in f64 with the S x S
// matrix materialised, from the softmax Jacobian directly (dS = P o (dP - rowsum(P o dP))) rather than
// the Dvec = rowsum(dO o O) identity the kernels use. Contiguous [B, H, S, D] inputs.
AttentionRef naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gout, double scale) {
  const int64_t BH = q.shape()[0] * q.shape()[1], sq = q.shape()[2], skv = k.shape()[2], d = q.shape()[3];
  std::vector<double> qv = q.to_vector_f64(), kv = k.to_vector_f64(), vv = v.to_vector_f64(), gv = gout.to_vector_f64();
  AttentionRef r{std::vector<double>(qv.size(), 0.0), std::vector<double>(qv.size(), 0.0),
                 std::vector<double>(kv.size(), 0.0), std::vector<double>(vv.size(), 0.0)};
  for (int64_t bh = 0; bh < BH; ++bh) {
    auto Q = [&](int64_t i, int64_t c) { return qv[size_t((bh * sq + i) * d + c)]; };
    auto K = [&](int64_t j, int64_t c) { return kv[size_t((bh * skv + j) * d + c)]; };
    auto V = [&](int64_t j, int64_t c) { return vv[size_t((bh * skv + j) * d + c)]; };
    auto G = [&](int64_t i, int64_t c) { return gv[size_t((bh * sq + i) * d + c)]; };
    std::vector<double> P(size_t(sq * skv)), dP(size_t(sq * skv));
    for (int64_t i = 0; i < sq; ++i) {
      double mx = -std::numeric_limits<double>::infinity(), total = 0;
      for (int64_t j = 0; j < skv; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += Q(i, c) * K(j, c);
        P[size_t(i * skv + j)] = s * scale;
        mx = std::max(mx, s * scale);
      }
      for (int64_t j = 0; j < skv; ++j) total += (P[size_t(i * skv + j)] = std::exp(P[size_t(i * skv + j)] - mx));
      for (int64_t j = 0; j < skv; ++j) P[size_t(i * skv + j)] /= total;
      for (int64_t j = 0; j < skv; ++j) {
        double dp = 0;
        for (int64_t c = 0; c < d; ++c) dp += G(i, c) * V(j, c);
        dP[size_t(i * skv + j)] = dp;
      }
      double pdp = 0;
      for (int64_t j = 0; j < skv; ++j) pdp += P[size_t(i * skv + j)] * dP[size_t(i * skv + j)];
      for (int64_t j = 0; j < skv; ++j) {
        const double p = P[size_t(i * skv + j)], ds = p * (dP[size_t(i * skv + j)] - pdp) * scale;
        for (int64_t c = 0; c < d; ++c) {
          r.out[size_t((bh * sq + i) * d + c)] += p * V(j, c);
          r.dq[size_t((bh * sq + i) * d + c)] += ds * K(j, c);
          r.dk[size_t((bh * skv + j) * d + c)] += ds * Q(i, c);
          r.dv[size_t((bh * skv + j) * d + c)] += p * G(i, c);
        }
      }
    }
  }
  return r;
}

Tensor leaf(const Shape& shape, uint64_t seed, DType dt = DType::F32) {
  return rand_f64(shape, -2, 2, seed).detach().to(dt).set_requires_grad(true);
}

std::string grad_fn_name(const Tensor& t) { return t.impl().grad_fn ? t.impl().grad_fn->name : "(none)"; }

// The same attention on contiguous copies of a [3, B, H, S, D] view's q, k and v, back-propagated
// with `gout`: index 0-2 are the copies (their grads hold dq, dk, dv), 3 is the output.
std::array<Tensor, 4> attention_on_contiguous_copies(const Tensor& split, const Tensor& gout) {
  std::array<Tensor, 4> r;
  for (int i = 0; i < 3; ++i) r[size_t(i)] = split.select(0, i).detach().contiguous().set_requires_grad(true);
  r[3] = scaled_dot_product_attention(r[0], r[1], r[2]);
  r[3].backward(gout);
  return r;
}

}  // namespace

TEST_CASE("fused CPU attention matches an f64 computation, forward and gradients", "[attention]") {
  const int64_t B = 2, H = 3;
  for (int64_t S : {1, 50, 197})
    for (int64_t D : {32, 64}) {
      INFO("S " << S << " D " << D);
      Tensor q = leaf({B, H, S, D}, 1), k = leaf({B, H, S, D}, 2), v = leaf({B, H, S, D}, 3);
      Tensor gout = rand_f64({B, H, S, D}, -1, 1, 4).detach().to(DType::F32);
      Tensor out = scaled_dot_product_attention(q, k, v);
      REQUIRE(grad_fn_name(out) == "scaled_dot_product_attention");  // the fused op, not the composite
      out.backward(gout);
      AttentionRef want = naive_attention(q, k, v, gout, 1.0 / std::sqrt(double(D)));
      require_close(out.to_vector_f64(), want.out, 1e-5, 1e-5, "out");
      require_close(q.grad().to_vector_f64(), want.dq, 1e-5, 1e-5, "dq");
      require_close(k.grad().to_vector_f64(), want.dk, 1e-5, 1e-5, "dk");
      require_close(v.grad().to_vector_f64(), want.dv, 1e-5, 1e-5, "dv");
    }
}

TEST_CASE("fused CPU attention: fewer queries than keys, explicit scale, logsumexp", "[attention]") {
  Tensor q = leaf({2, 2, 3, 8}, 11), k = leaf({2, 2, 7, 8}, 12), v = leaf({2, 2, 7, 8}, 13);
  Tensor gout = rand_f64({2, 2, 3, 8}, -1, 1, 14).detach().to(DType::F32);
  Tensor out = scaled_dot_product_attention(q, k, v, 0.3);
  out.backward(gout);
  AttentionRef want = naive_attention(q, k, v, gout, 0.3);
  require_close(out.to_vector_f64(), want.out, 1e-5, 1e-5, "out");
  require_close(q.grad().to_vector_f64(), want.dq, 1e-5, 1e-5, "dq");
  require_close(k.grad().to_vector_f64(), want.dk, 1e-5, 1e-5, "dk");
  require_close(v.grad().to_vector_f64(), want.dv, 1e-5, 1e-5, "dv");
  // logsumexp of row (0, 1, 2) by hand.
  AttentionForwardResult fwd = scaled_dot_product_attention_fused_forward(q, k, v, 0.3);
  std::vector<double> qv = q.to_vector_f64(), kv = k.to_vector_f64();
  double total = 0;
  for (int64_t j = 0; j < 7; ++j) {
    double s = 0;
    for (int64_t c = 0; c < 8; ++c) s += qv[size_t(((0 * 2 + 1) * 3 + 2) * 8 + c)] * kv[size_t(((0 * 2 + 1) * 7 + j) * 8 + c)];
    total += std::exp(0.3 * s);
  }
  REQUIRE(fwd.logsumexp.shape() == Shape{2, 2, 3});
  REQUIRE(std::abs(fwd.logsumexp.to_vector_f64()[size_t((0 * 2 + 1) * 3 + 2)] - std::log(total)) < 1e-5);
}

TEST_CASE("fused attention gradcheck in f64", "[attention]") {
  auto fused = [](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2]); };
  gradcheck(fused, {rand_f64({1, 2, 5, 4}, -1, 1, 21), rand_f64({1, 2, 5, 4}, -1, 1, 22), rand_f64({1, 2, 5, 4}, -1, 1, 23)});
  auto scaled = [](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2], 0.7); };
  gradcheck(scaled, {rand_f64({2, 1, 3, 3}, -1, 1, 24), rand_f64({2, 1, 6, 3}, -1, 1, 25), rand_f64({2, 1, 6, 3}, -1, 1, 26)});
}

TEST_CASE("fused attention reads q, k, v out of a [B, S, 3, H, D] projection in place", "[attention]") {
  const int64_t B = 2, S = 9, H = 3, D = 8;
  Tensor qkv = leaf({B, S, 3, H, D}, 31);
  Tensor split = qkv.permute({2, 0, 3, 1, 4});  // [3, B, H, S, D], no copy
  Tensor out = scaled_dot_product_attention(split.select(0, 0), split.select(0, 1), split.select(0, 2));
  // The output is stored [B, S, H, D]: permuted back it is contiguous, so the output projection's
  // reshape to [B, S, H * D] is free.
  REQUIRE(out.shape() == Shape{B, H, S, D});
  REQUIRE(out.permute({0, 2, 1, 3}).is_contiguous());
  Tensor gout = rand_f64({B, H, S, D}, -1, 1, 32).detach().to(DType::F32);
  out.backward(gout);

  const auto [qc, kc, vc, outc] = attention_on_contiguous_copies(split, gout);
  REQUIRE(out.to_vector() == outc.to_vector());  // same values, same arithmetic: bitwise equal
  Tensor gsplit = qkv.grad().permute({2, 0, 3, 1, 4});
  REQUIRE(gsplit.select(0, 0).to_vector() == qc.grad().to_vector());
  REQUIRE(gsplit.select(0, 1).to_vector() == kc.grad().to_vector());
  REQUIRE(gsplit.select(0, 2).to_vector() == vc.grad().to_vector());
}

TEST_CASE("scaled_dot_product_attention dispatch: fused where it applies, unfused elsewhere", "[attention]") {
  Tensor q = leaf({1, 2, 5, 4}, 41), k = leaf({1, 2, 5, 4}, 42), v = leaf({1, 2, 5, 4}, 43);
  Tensor fused = scaled_dot_product_attention(q, k, v);
  Tensor unfused = scaled_dot_product_attention_unfused(q, k, v);
  REQUIRE(grad_fn_name(fused) == "scaled_dot_product_attention");
  REQUIRE(grad_fn_name(unfused) == "matmul");
  require_close(fused, unfused, 1e-5, 1e-6, "fused vs unfused");
  // A value head dim different from the query's has no fused kernel: the composite runs.
  Tensor v6 = leaf({1, 2, 5, 6}, 44);
  Tensor out6 = scaled_dot_product_attention(q, k, v6);
  REQUIRE(out6.shape() == Shape{1, 2, 5, 6});
  REQUIRE(grad_fn_name(out6) == "matmul");
  REQUIRE_THROWS_AS(scaled_dot_product_attention_fused_forward(q, k, v6), Error);
  REQUIRE_THROWS_AS(scaled_dot_product_attention(q, leaf({1, 2, 5, 3}, 45), v), Error);
  REQUIRE_THROWS_AS(scaled_dot_product_attention(q.reshape({2, 5, 4}), k, v), Error);
}

namespace {

// max |a - b|, infinite when either holds a NaN (so a NaN never passes a bound).
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - b[i]);
    if (!(d <= m)) m = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
  }
  return m;
}

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::abs(x));
  return m;
}

// The fused CUDA kernels against the f64 CPU reference (truth) under FlashAttention's rule: the
// fused error is at most twice that of the unfused composite on CUDA in the same precision, plus a
// small absolute slack. Sq and Skv may differ; causal masks every computation alike.
void check_cuda_error_rule(DType dt, int64_t B, int64_t H, int64_t Sq, int64_t Skv, int64_t D, uint64_t seed,
                           bool causal = false) {
  const Device gpu = cuda_device();
  manual_seed(seed);
  // Inputs rounded to dt first, so every computation sees the same values.
  auto make = [&](int64_t S) { return Tensor::randn({B, H, S, D}, DType::F32).to(dt).to(DType::F32); };
  Tensor q = make(Sq), k = make(Skv), v = make(Skv), gout = make(Sq);

  // Truth: the CPU reference in f64 (the f32 CPU op takes the GEMM path, which sums in f32).
  const Tensor q64 = q.to(DType::F64), k64 = k.to(DType::F64), v64 = v.to(DType::F64);
  AttentionForwardResult ref = scaled_dot_product_attention_fused_forward(q64, k64, v64, std::nullopt, causal);
  AttentionGrads ref_g = scaled_dot_product_attention_fused_backward(q64, k64, v64, ref.out, ref.logsumexp,
                                                                     gout.to(DType::F64), std::nullopt, causal);

  // The fused CUDA kernels.
  Tensor qg = q.to(gpu, dt), kg = k.to(gpu, dt), vg = v.to(gpu, dt), gg = gout.to(gpu, dt);
  AttentionForwardResult fwd = scaled_dot_product_attention_fused_forward(qg, kg, vg, std::nullopt, causal);
  AttentionGrads grads =
      scaled_dot_product_attention_fused_backward(qg, kg, vg, fwd.out, fwd.logsumexp, gg, std::nullopt, causal);

  // The baseline: the unfused composite on CUDA in the same precision, through autograd.
  Tensor qb = qg.detach().set_requires_grad(true), kb = kg.detach().set_requires_grad(true);
  Tensor vb = vg.detach().set_requires_grad(true);
  Tensor ob = scaled_dot_product_attention_unfused(qb, kb, vb, std::nullopt, causal);
  ob.backward(gg);

  struct Check {
    const char* name;
    Tensor fused, baseline, truth;
  };
  for (const Check& c : {Check{"out", fwd.out, ob, ref.out}, Check{"dq", grads.dq, qb.grad(), ref_g.dq},
                         Check{"dk", grads.dk, kb.grad(), ref_g.dk}, Check{"dv", grads.dv, vb.grad(), ref_g.dv}}) {
    const std::vector<double> truth = c.truth.to_vector_f64();
    const double err = max_abs_diff(c.fused.to(DType::F32).to_vector_f64(), truth);
    const double base = max_abs_diff(c.baseline.to(DType::F32).to_vector_f64(), truth);
    const double eps = 1e-3 * max_abs(truth) + 1e-5;
    INFO(c.name << ": fused error " << err << ", unfused " << dtype_name(dt) << " error " << base << ", eps " << eps);
    REQUIRE(err <= 2 * base + eps);
  }
  // The logsumexp against the CPU reference's (natural log, [B, H, Sq]).
  REQUIRE(fwd.logsumexp.shape() == ref.logsumexp.shape());
  require_close(fwd.logsumexp.to_vector_f64(), ref.logsumexp.to_vector_f64(), 1e-3, 1e-3, "logsumexp");
}

}  // namespace

TEST_CASE("CUDA fused attention: FlashAttention's error rule against the f64 CPU reference", "[attention][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  for (DType dt : {DType::BF16, DType::F16})
    for (int64_t D : {32, 64, 128})
      for (int64_t S : {197, 785, 50, 1, 77}) {
        INFO(dtype_name(dt) << " S " << S << " D " << D);
        const int64_t B = S > 256 ? 1 : 2, H = S > 256 ? 2 : 3;
        check_cuda_error_rule(dt, B, H, S, S, D, uint64_t(1000 + S * 7 + D));
      }
}

// Query and key counts that differ (a mix-up of seq_q and seq_kv in an index goes unseen when they
// are equal), and lengths that are exact multiples of the 64-row tiles (no masked keys, no partial
// query tile: the other side of every boundary branch).
namespace {
// check_cuda_error_rule at every (Sq, Skv) of `shapes`, in bf16 and f16, at head dims 32, 64, 128.
void check_shapes_every_dim(const std::vector<std::array<int64_t, 2>>& shapes, uint64_t seed, bool causal) {
  for (DType dt : {DType::BF16, DType::F16})
    for (int64_t D : {32, 64, 128})
      for (const auto& s : shapes) {
        INFO(dtype_name(dt) << (causal ? " causal" : "") << " Sq " << s[0] << " Skv " << s[1] << " D " << D);
        check_cuda_error_rule(dt, 2, 3, s[0], s[1], D, uint64_t(seed + s[0] * 13 + s[1] * 7 + D), causal);
      }
}
}  // namespace

TEST_CASE("CUDA fused attention: Sq != Skv and tile-multiple lengths", "[attention][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  check_shapes_every_dim({{1, 197}, {197, 1}, {65, 200}, {197, 50}, {64, 64}, {128, 128}, {32, 96}}, 5000, false);
}

// Causal (top-left aligned): CLIP's 77 tokens, odd lengths, one and several tiles, and Sq != Skv both
// ways (key tiles the forward skips, query tiles the backward skips, keys no query sees).
TEST_CASE("CUDA fused causal attention: FlashAttention's error rule against the f64 CPU reference", "[attention][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  check_shapes_every_dim({{1, 1}, {7, 7}, {77, 77}, {197, 197}, {128, 128}, {65, 200}, {200, 65}}, 7000, true);
}

TEST_CASE("CUDA fused attention: strided qkv views, dispatch, and the f32 fallback", "[attention][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const Device gpu = cuda_device();
  const int64_t B = 3, S = 197, H = 4, D = 64;
  manual_seed(77);
  Tensor qkv = Tensor::randn({B, S, 3, H, D}, DType::BF16, gpu).set_requires_grad(true);
  Tensor split = qkv.permute({2, 0, 3, 1, 4});
  Tensor out = scaled_dot_product_attention(split.select(0, 0), split.select(0, 1), split.select(0, 2));
  REQUIRE(grad_fn_name(out) == "scaled_dot_product_attention");
  Tensor gout = Tensor::randn({B, H, S, D}, DType::BF16, gpu);
  out.backward(gout);

  const auto [qc, kc, vc, outc] = attention_on_contiguous_copies(split, gout);
  // Same kernel, same values: reading in place must not change a bit (dQ's atomics add per element
  // in an order that may vary, so dq is compared with a tolerance).
  REQUIRE(out.to_vector() == outc.to_vector());
  Tensor gsplit = qkv.grad().permute({2, 0, 3, 1, 4});
  require_close(gsplit.select(0, 0).to(DType::F32), qc.grad().to(DType::F32), 1e-2, 1e-2, "dq strided");
  REQUIRE(gsplit.select(0, 1).to_vector() == kc.grad().to_vector());
  REQUIRE(gsplit.select(0, 2).to_vector() == vc.grad().to_vector());

  // f32 on CUDA and unsupported head dims go through the composite.
  Tensor q32 = Tensor::randn({2, 2, 33, 64}, DType::F32, gpu).set_requires_grad(true);
  REQUIRE(grad_fn_name(scaled_dot_product_attention(q32, q32, q32)) == "matmul");
  Tensor q48 = Tensor::randn({2, 2, 33, 48}, DType::BF16, gpu).set_requires_grad(true);
  REQUIRE(grad_fn_name(scaled_dot_product_attention(q48, q48, q48)) == "matmul");
}

// In-place reads of [B, S, 3, H, D] qkv views at every head dim, both 16-bit types, and lengths off
// the tile grid; and operands the kernels cannot read in place (pointer or row stride not a multiple
// of 8 elements), which the host must copy rather than hand to 16-byte cp.async. Each is compared with
// the same fused kernels on contiguous copies of the same values.
TEST_CASE("CUDA fused attention: strided qkv views at every head dim, and misaligned views", "[attention][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const Device gpu = cuda_device();
  auto compare = [&](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gout) {
    AttentionForwardResult fwd = scaled_dot_product_attention_fused_forward(q, k, v);
    AttentionGrads g = scaled_dot_product_attention_fused_backward(q, k, v, fwd.out, fwd.logsumexp, gout);
    Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    AttentionForwardResult fwdc = scaled_dot_product_attention_fused_forward(qc, kc, vc);
    AttentionGrads gc = scaled_dot_product_attention_fused_backward(qc, kc, vc, fwdc.out, fwdc.logsumexp, gout);
    REQUIRE(fwd.out.to_vector() == fwdc.out.to_vector());
    REQUIRE(fwd.logsumexp.to_vector() == fwdc.logsumexp.to_vector());
    require_close(g.dq.to(DType::F32), gc.dq.to(DType::F32), 1e-2, 1e-2, "dq");  // atomics: order may vary
    REQUIRE(g.dk.to_vector() == gc.dk.to_vector());
    REQUIRE(g.dv.to_vector() == gc.dv.to_vector());
  };
  for (DType dt : {DType::BF16, DType::F16})
    for (int64_t D : {32, 64, 128})
      for (int64_t S : {1, 50, 197}) {
        INFO(dtype_name(dt) << " S " << S << " D " << D);
        manual_seed(uint64_t(9000 + S * 3 + D));
        const int64_t B = 2, H = 3;
        Tensor split = Tensor::randn({B, S, 3, H, D}, DType::F32, gpu).to(dt).permute({2, 0, 3, 1, 4});
        Tensor gout = Tensor::randn({B, H, S, D}, DType::F32, gpu).to(dt);
        compare(split.select(0, 0), split.select(0, 1), split.select(0, 2), gout);
        // Misaligned: q starts one element into its buffer (2-byte aligned pointer), k's rows are D + 4
        // elements apart (stride not a multiple of 8), v and gout are plain permuted views.
        Tensor qbig = Tensor::randn({B, H, S, D + 1}, DType::F32, gpu).to(dt);
        Tensor kbig = Tensor::randn({B, H, S, D + 4}, DType::F32, gpu).to(dt);
        Tensor q = qbig.narrow(3, 1, D), k = kbig.narrow(3, 0, D);
        Tensor v = Tensor::randn({B, S, H, D}, DType::F32, gpu).to(dt).permute({0, 2, 1, 3});
        compare(q, k, v, gout);
      }
}

// The f32 CPU training path (GEMMs per head) against the row-by-row reference it stands in for, at
// the kernel level: ViT-B/16's sequence, Sq != Skv, no queries at all, and operands read out of a
// [B, S, 3, H, D] projection (row stride 3 H D).
TEST_CASE("CPU attention: the f32 GEMM path matches the row-by-row reference", "[attention]") {
  struct Case {
    int64_t B, H, Sq, Skv, D;
    bool packed_qkv;
  };
  for (const Case& c : {Case{2, 3, 197, 197, 64, false}, Case{1, 2, 5, 33, 16, false}, Case{2, 1, 0, 7, 8, false},
                        Case{2, 4, 50, 50, 32, true}}) {
    INFO("B " << c.B << " H " << c.H << " Sq " << c.Sq << " Skv " << c.Skv << " D " << c.D << " packed " << c.packed_qkv);
    Tensor q, k, v;
    if (c.packed_qkv) {  // one [B, S, 3, H, D] buffer, permuted to three [B, H, S, D] views
      Tensor qkv = rand_f64({c.B, c.Sq, 3, c.H, c.D}, -2, 2, 31).to(DType::F32).permute({2, 0, 3, 1, 4});
      q = qkv.select(0, 0), k = qkv.select(0, 1), v = qkv.select(0, 2);
    } else {
      q = rand_f64({c.B, c.H, c.Sq, c.D}, -2, 2, 32).to(DType::F32);
      k = rand_f64({c.B, c.H, c.Skv, c.D}, -2, 2, 33).to(DType::F32);
      v = rand_f64({c.B, c.H, c.Skv, c.D}, -2, 2, 34).to(DType::F32);
    }
    auto in4 = [](const Tensor& t) { return operand_of<4, const void*>(t); };
    const double scale = 1.0 / std::sqrt(double(c.D));
    const Tensor gout = rand_f64({c.B, c.H, c.Sq, c.D}, -1, 1, 35).to(DType::F32);
    struct Run {
      Tensor out, lse, dq, dk, dv;
    };
    auto run = [&](bool gemm_path) {
      Run r{Tensor::empty({c.B, c.H, c.Sq, c.D}), Tensor::empty({c.B, c.H, c.Sq}), Tensor::empty({c.B, c.H, c.Sq, c.D}),
            Tensor::empty({c.B, c.H, c.Skv, c.D}), Tensor::empty({c.B, c.H, c.Skv, c.D})};
      const kernels::AttentionForwardArgs fwd{.dtype = DType::F32,
                                              .scale = scale,
                                              .q = in4(q),
                                              .k = in4(k),
                                              .v = in4(v),
                                              .out = operand_of<4>(r.out),
                                              .logsumexp = operand_of<3>(r.lse)};
      (gemm_path ? kernels::cpu::attention_forward_gemm : kernels::cpu::attention_forward)(fwd);
      const kernels::AttentionBackwardArgs bwd{.dtype = DType::F32,
                                               .scale = scale,
                                               .q = in4(q),
                                               .k = in4(k),
                                               .v = in4(v),
                                               .out = in4(r.out),
                                               .grad_out = in4(gout),
                                               .logsumexp = operand_of<3, const void*>(r.lse),
                                               .dq = operand_of<4>(r.dq),
                                               .dk = operand_of<4>(r.dk),
                                               .dv = operand_of<4>(r.dv)};
      (gemm_path ? kernels::cpu::attention_backward_gemm : kernels::cpu::attention_backward)(bwd);
      return r;
    };
    const Run want = run(false), got = run(true);
    require_close(got.out.to_vector_f64(), want.out.to_vector_f64(), 1e-5, 1e-5, "out");
    require_close(got.lse.to_vector_f64(), want.lse.to_vector_f64(), 1e-5, 1e-5, "lse");
    require_close(got.dq.to_vector_f64(), want.dq.to_vector_f64(), 1e-5, 1e-5, "dq");
    require_close(got.dk.to_vector_f64(), want.dk.to_vector_f64(), 1e-5, 1e-5, "dk");
    require_close(got.dv.to_vector_f64(), want.dv.to_vector_f64(), 1e-5, 1e-5, "dv");
    if (c.Sq == 0) CHECK(max_abs(got.dk.to_vector_f64()) == 0);  // nothing flows back without queries
  }
}

TEST_CASE("attention kernels name the operand whose shape or layout does not fit", "[attention]") {
  const Tensor q = Tensor::zeros({1, 2, 5, 8}), k = Tensor::zeros({1, 2, 7, 8}), v = Tensor::zeros({1, 2, 7, 8});
  const Tensor out = Tensor::empty({1, 2, 5, 8}), lse = Tensor::empty({1, 2, 5});
  kernels::AttentionForwardArgs args{.dtype = DType::F32,
                                     .scale = 0.5,
                                     .q = operand_of<4, const void*>(q),
                                     .k = operand_of<4, const void*>(k),
                                     .v = operand_of<4, const void*>(v),
                                     .out = operand_of<4>(out),
                                     .logsumexp = operand_of<3>(lse)};
  kernels::cpu::attention_forward(args);  // consistent: runs
  for (double l : lse.to_vector_f64()) CHECK(l == Approx(std::log(7.0)));  // zero scores: log(Skv)

  kernels::AttentionForwardArgs bad = args;
  bad.v.shape[2] = 6;
  REQUIRE_THROWS_WITH(kernels::cpu::attention_forward(bad),
                      Catch::Matchers::Contains("v dim 2 is 6, expected 7"));
  bad = args;
  bad.logsumexp.shape[2] = 4;
  REQUIRE_THROWS_WITH(kernels::cpu::attention_forward_gemm(bad),
                      Catch::Matchers::Contains("logsumexp dim 2 is 4, expected 5"));
  bad = args;
  bad.k.strides[3] = 2;
  REQUIRE_THROWS_WITH(kernels::cpu::attention_forward(bad),
                      Catch::Matchers::Contains("k's last dim must be contiguous"));
  bad = args;
  bad.dtype = DType::BF16;
  REQUIRE_THROWS_WITH(kernels::cpu::attention_forward(bad), Catch::Matchers::Contains("f32/f64 only"));
}
