// GEMM kernels and the matmul / bmm / linear / linear_gelu / attention ops against f64 loops written
// here. Their gradchecks and CUDA checks are rows of the op table (tests/op_table/rows_norm_matmul.cpp).
#include <cmath>

#include "engine/random.h"
#include "kernels/gemm.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

double gelu_erf_ref(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

// [batch..., M, K] @ [batch..., K, N] in f64 with both already the same batch shape (any strides).
std::vector<double> ref_matmul(const Tensor& a, const Tensor& b) {
  Tensor ac = a.detach().to(DType::F64).contiguous(), bc = b.detach().to(DType::F64).contiguous();
  int nd = a.dim();
  int64_t m = a.shape()[nd - 2], k = a.shape()[nd - 1], n = b.shape()[nd - 1];
  int64_t batch = a.numel() / std::max<int64_t>(1, m * k);
  std::vector<double> av = ac.to_vector_f64(), bv = bc.to_vector_f64(), out(size_t(batch * m * n), 0.0);
  for (int64_t q = 0; q < batch; ++q)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) s += av[size_t(q * m * k + i * k + p)] * bv[size_t(q * k * n + p * n + j)];
        out[size_t(q * m * n + i * n + j)] = s;
      }
  return out;
}

Tensor randf(const Shape& s, uint64_t seed, DType dt = DType::F32) { return rand_f64(s, -1, 1, seed).detach().to(dt); }

// Runs one GemmArgs configuration through `fn` on fresh buffers and compares with an f64 loop.
void check_gemm_kernel(void (*fn)(const kernels::GemmArgs&), DType dt, bool ta, bool tb, kernels::GemmEpilogue ep,
                       float alpha, float beta) {
  const int64_t m = 197, n = 61, k = 33, batch = 3, pad = 3;
  // Stored shapes with padded leading dims, so ld != logical width is exercised.
  int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  Tensor a = randf({batch, a_rows, a_cols + pad}, 1, dt);
  Tensor b = randf({batch, b_rows, b_cols + pad}, 2, dt);
  Tensor c = randf({batch, m, n + pad}, 3, dt);
  Tensor bias = randf({n}, 4, dt);
  std::vector<double> av = a.to_vector_f64(), bv = b.to_vector_f64(), cv = c.to_vector_f64(), biasv = bias.to_vector_f64();
  kernels::GemmArgs g;
  g.m = m; g.n = n; g.k = k; g.trans_a = ta; g.trans_b = tb;
  g.a = a.raw_data(); g.b = b.raw_data(); g.c = c.raw_data();
  g.lda = a_cols + pad; g.ldb = b_cols + pad; g.ldc = n + pad;
  g.batch = batch;
  g.stride_a = a_rows * g.lda; g.stride_b = b_rows * g.ldb; g.stride_c = m * g.ldc;
  g.alpha = alpha; g.beta = beta; g.dtype = dt; g.epilogue = ep; g.bias = bias.raw_data();
  fn(g);
  std::vector<double> got = c.to_vector_f64(), want = cv;
  for (int64_t q = 0; q < batch; ++q)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) {
          double x = ta ? av[size_t(q * g.stride_a + p * g.lda + i)] : av[size_t(q * g.stride_a + i * g.lda + p)];
          double y = tb ? bv[size_t(q * g.stride_b + j * g.ldb + p)] : bv[size_t(q * g.stride_b + p * g.ldb + j)];
          s += x * y;
        }
        size_t ci = size_t(q * g.stride_c + i * g.ldc + j);
        double v = alpha * s + beta * cv[ci];
        if (ep != kernels::GemmEpilogue::None) v += biasv[size_t(j)];
        if (ep == kernels::GemmEpilogue::BiasGelu) v = gelu_erf_ref(v);
        if (ep == kernels::GemmEpilogue::BiasGeluTanh) v = gelu_tanh_ref(v);
        want[ci] = v;
      }
  double tol = dt == DType::F64 ? 1e-12 : 2e-5;
  require_close(got, want, tol, tol, "gemm kernel");  // padding columns must be untouched: compared too
}

}  // namespace

TEST_CASE("gemm_blocked and cpu::gemm match an f64 loop on odd shapes", "[ops][matmul]") {
  for (DType dt : {DType::F32, DType::F64})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        INFO("dtype " << dtype_name(dt) << " trans_a " << ta << " trans_b " << tb);
        check_gemm_kernel(kernels::cpu::gemm_blocked, dt, ta, tb, kernels::GemmEpilogue::None, 1.f, 0.f);
        check_gemm_kernel(kernels::cpu::gemm, dt, ta, tb, kernels::GemmEpilogue::None, 1.f, 0.f);
        check_gemm_kernel(kernels::cpu::gemm_blocked, dt, ta, tb, kernels::GemmEpilogue::None, 0.5f, 0.25f);
        check_gemm_kernel(kernels::cpu::gemm, dt, ta, tb, kernels::GemmEpilogue::None, 0.5f, 0.25f);
      }
}

TEST_CASE("gemm epilogues: bias, erf GELU, tanh GELU", "[ops][matmul]") {
  using E = kernels::GemmEpilogue;
  for (E ep : {E::Bias, E::BiasGelu, E::BiasGeluTanh}) {
    INFO("epilogue " << int(ep));
    check_gemm_kernel(kernels::cpu::gemm_blocked, DType::F32, false, true, ep, 1.f, 0.f);
    check_gemm_kernel(kernels::cpu::gemm, DType::F64, true, false, ep, 1.f, 0.5f);
  }
}

TEST_CASE("gemm_blocked spans several K and N panels", "[ops][matmul]") {
  // 300 x 520 x 600 crosses the 256-wide panels in both K and N with ragged edges.
  Tensor a = randf({300, 600}, 5, DType::F64), b = randf({600, 520}, 6, DType::F64);
  Tensor c = Tensor::empty({300, 520}, DType::F64);
  kernels::GemmArgs g;
  g.m = 300; g.n = 520; g.k = 600; g.a = a.raw_data(); g.b = b.raw_data(); g.c = c.raw_data();
  g.lda = 600; g.ldb = 520; g.ldc = 520; g.dtype = DType::F64;
  kernels::cpu::gemm_blocked(g);
  require_close(c.to_vector_f64(), ref_matmul(a, b), 1e-12, 1e-12, "large blocked gemm");
}

TEST_CASE("matmul forward: 2-D, broadcast batches, vectors, transposed views", "[ops][matmul]") {
  Tensor a = randf({37, 19}, 7), b = randf({19, 23}, 8);
  require_close(matmul(a, b).to_vector_f64(), ref_matmul(a, b), 1e-5, 1e-5, "2-D");
  // Transposed views go to the GEMM as flags: same numbers as the contiguous copies.
  Tensor at = randf({19, 37}, 9).transpose(0, 1), bt = randf({23, 19}, 10).transpose(0, 1);
  require_close(matmul(at, bt).to_vector_f64(), ref_matmul(at, bt), 1e-5, 1e-5, "transposed views");
  // [2, 1, 5, 7] @ [3, 7, 4] -> [2, 3, 5, 4]
  Tensor x = randf({2, 1, 5, 7}, 11), y = randf({3, 7, 4}, 12);
  Tensor out = matmul(x, y);
  REQUIRE(out.shape() == Shape{2, 3, 5, 4});
  require_close(out.to_vector_f64(), ref_matmul(x.expand({2, 3, 5, 7}), y.expand({2, 3, 7, 4})), 1e-5, 1e-5,
                "broadcast batch");
  // Batched rows times one matrix (the folded path), with a permuted batch that cannot fold.
  Tensor r = randf({4, 3, 7}, 13).permute({1, 0, 2});
  require_close(matmul(r, y.select(0, 1)).to_vector_f64(), ref_matmul(r, y.select(0, 1).expand({3, 7, 4})), 1e-5,
                1e-5, "rows times matrix");
  Tensor v = randf({7}, 14);
  REQUIRE(matmul(v, v).dim() == 0);
  REQUIRE(std::abs(matmul(v, v).item() - ref_matmul(v.view({1, 7}), v.view({7, 1}))[0]) < 1e-5);
  REQUIRE(matmul(x, v).shape() == Shape{2, 1, 5});
  REQUIRE(matmul(v, y).shape() == Shape{3, 4});
  require_close(bmm(randf({3, 5, 7}, 15), randf({3, 7, 2}, 16)).to_vector_f64(),
                ref_matmul(randf({3, 5, 7}, 15), randf({3, 7, 2}, 16)), 1e-5, 1e-5, "bmm");
  // K = 0: an empty sum is zero.
  REQUIRE(matmul(Tensor::ones({3, 0}), Tensor::ones({0, 4})).to_vector() == std::vector<float>(12, 0.f));
  REQUIRE_THROWS_AS(matmul(a, a), Error);
  REQUIRE_THROWS_AS(bmm(a, b), Error);
}

TEST_CASE("linear and linear_gelu: forward against loops", "[ops][matmul]") {
  Tensor x = randf({3, 49, 20}, 31), w = randf({13, 20}, 32), bias = randf({13}, 33);
  std::vector<double> base = ref_matmul(x.reshape({-1, 20}), w.transpose(0, 1));
  std::vector<double> bv = bias.to_vector_f64(), lin(base.size()), ge(base.size()), gt(base.size());
  for (size_t i = 0; i < base.size(); ++i) {
    lin[i] = base[i] + bv[i % 13];
    ge[i] = gelu_erf_ref(lin[i]);
    gt[i] = gelu_tanh_ref(lin[i]);
  }
  Tensor y = linear(x, w, bias);
  REQUIRE(y.shape() == Shape{3, 49, 13});
  require_close(y.to_vector_f64(), lin, 1e-5, 1e-5, "linear");
  require_close(linear(x, w).to_vector_f64(), base, 1e-5, 1e-5, "linear without bias");
  require_close(linear_gelu(x, w, bias).to_vector_f64(), ge, 1e-5, 1e-5, "linear_gelu erf");
  require_close(linear_gelu(x, w, bias, GeluApprox::Tanh).to_vector_f64(), gt, 1e-5, 1e-5, "linear_gelu tanh");
  REQUIRE_THROWS_AS(linear(x, randf({13, 21}, 34)), Error);
  REQUIRE_THROWS_AS(linear(x, w, randf({12}, 35)), Error);

}

TEST_CASE("scaled_dot_product_attention against an f64 reference", "[ops][matmul]") {
  const int64_t B = 2, H = 3, S = 7, D = 5;
  Tensor q = randf({B, H, S, D}, 51), k = randf({B, H, S, D}, 52), v = randf({B, H, S, D}, 53);
  std::vector<double> qv = q.to_vector_f64(), kv = k.to_vector_f64(), vv = v.to_vector_f64(), want(qv.size());
  double scale = 1.0 / std::sqrt(double(D));
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t i = 0; i < S; ++i) {
      std::vector<double> s(S);
      double mx = -1e300, tot = 0;
      for (int64_t j = 0; j < S; ++j) {
        double d = 0;
        for (int64_t c = 0; c < D; ++c) d += qv[size_t((bh * S + i) * D + c)] * kv[size_t((bh * S + j) * D + c)];
        s[size_t(j)] = d * scale;
        mx = std::max(mx, s[size_t(j)]);
      }
      for (auto& e : s) tot += (e = std::exp(e - mx));
      for (int64_t c = 0; c < D; ++c) {
        double o = 0;
        for (int64_t j = 0; j < S; ++j) o += s[size_t(j)] / tot * vv[size_t((bh * S + j) * D + c)];
        want[size_t((bh * S + i) * D + c)] = o;
      }
    }
  require_close(scaled_dot_product_attention(q, k, v).to_vector_f64(), want, 1e-5, 1e-5, "sdpa");
}
