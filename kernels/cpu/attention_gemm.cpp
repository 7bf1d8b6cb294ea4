// The CPU training path of fused attention (f32): per (batch, head) the formulas of
// kernels/attention.h as GEMMs, with the Sq x Skv score block of one head held in a per-thread buffer.
// The reference (kernels/cpu/attention.cpp) walks one query row at a time with f64 sums and stays
// what tests compare against; this path is the same math in f32 at GEMM speed (OpenBLAS), so CPU
// training and the demos do not spend half their time in exp and dot products.
// Heads run in parallel (OpenMP); each GEMM is then single-threaded: nested regions run serially,
// and OpenBLAS's OpenMP flavour does not start threads of its own inside a parallel region.
// Causal: the full score block is still computed (a GEMM cannot skip a triangle cheaply at these
// sizes); the scores above the diagonal become -inf before the softmax, and P = 0 there in the backward.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/error.h"
#include "kernels/gemm.h"

namespace iqa::kernels::cpu {

namespace {

// First element of head (b, h) of a [B, H, S, D] operand (const for an input, writable for an output).
template <class Ptr>
auto head_of(const BasicOperand<Ptr, 4>& op, int64_t b, int64_t h) {
  using Float = std::conditional_t<std::is_const_v<std::remove_pointer_t<Ptr>>, const float, float>;
  return static_cast<Float*>(op.data) + b * op.strides[0] + h * op.strides[1];
}

// C[m, n] = alpha * op(A) op(B) (+ beta C); row-major, leading dimensions as stored.
void gemm_f32(int64_t m, int64_t n, int64_t k, bool trans_a, const float* a, int64_t lda, bool trans_b,
              const float* b, int64_t ldb, float* c, int64_t ldc, float alpha, float beta = 0.f) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k;
  g.trans_a = trans_a, g.trans_b = trans_b;
  g.a = a, g.b = b, g.c = c;
  g.lda = lda, g.ldb = ldb, g.ldc = ldc;
  g.alpha = alpha, g.beta = beta;
  g.dtype = DType::F32;
  gemm(g);
}

// scores = scale * Q K^T for one head: [Sq, Skv].
void head_scores(const AttentionShape& sh, const InOperand<4>& q, const InOperand<4>& k, int64_t b, int64_t h,
                 float* scores) {
  gemm_f32(sh.seq_q, sh.seq_kv, sh.head_dim, false, head_of(q, b, h), q.strides[2], true, head_of(k, b, h),
           k.strides[2], scores, sh.seq_kv, float(sh.scale));
}

void check_f32(DType dtype, const char* who) { IQA_CHECK(dtype == DType::F32, who, ": f32 only, got ", dtype_name(dtype)); }

}  // namespace

void attention_forward_gemm(const AttentionForwardArgs& a) {
  check_f32(a.dtype, "attention_forward_gemm");
  const AttentionShape sh = attention_shape(a, "attention_forward_gemm");
  const int64_t sq = sh.seq_q, skv = sh.seq_kv, d = sh.head_dim;
  if (sq == 0) return;
#pragma omp parallel
  {
    std::vector<float> p(size_t(sq * skv));  // scores, then probabilities, of the head in hand
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < sh.batch * sh.heads; ++bh) {
      const int64_t b = bh / sh.heads, h = bh % sh.heads;
      head_scores(sh, a.q, a.k, b, h, p.data());
      float* lse = static_cast<float*>(a.logsumexp.data) + bh * sq;
      for (int64_t i = 0; i < sq; ++i) {
        float* row = p.data() + i * skv;
        std::fill(row + sh.keys_seen(i), row + skv, -std::numeric_limits<float>::infinity());
        const float mx = *std::max_element(row, row + skv);
        double total = 0;
        for (int64_t j = 0; j < skv; ++j) total += (row[j] = std::exp(row[j] - mx));
        const float inv = float(1.0 / total);
        for (int64_t j = 0; j < skv; ++j) row[j] *= inv;
        lse[i] = mx + float(std::log(total));
      }
      float* o = head_of(a.out, b, h);
      gemm_f32(sq, d, skv, false, p.data(), skv, false, head_of(a.v, b, h), a.v.strides[2], o, a.out.strides[2], 1.f);
    }
  }
}

void attention_backward_gemm(const AttentionBackwardArgs& a) {
  check_f32(a.dtype, "attention_backward_gemm");
  const AttentionShape sh = attention_shape(a, "attention_backward_gemm");
  const int64_t sq = sh.seq_q, skv = sh.seq_kv, d = sh.head_dim;
  if (sq == 0) {  // no queries: nothing flows back to K and V
    std::fill_n(static_cast<float*>(a.dk.data), sh.batch * sh.heads * skv * d, 0.f);
    std::fill_n(static_cast<float*>(a.dv.data), sh.batch * sh.heads * skv * d, 0.f);
    return;
  }
#pragma omp parallel
  {
    std::vector<float> p(size_t(sq * skv)), dp(size_t(sq * skv));
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < sh.batch * sh.heads; ++bh) {
      const int64_t b = bh / sh.heads, h = bh % sh.heads;
      const float *qh = head_of(a.q, b, h), *kh = head_of(a.k, b, h), *vh = head_of(a.v, b, h);
      const float *oh = head_of(a.out, b, h), *gh = head_of(a.grad_out, b, h);
      const int64_t q_ld = a.q.strides[2], k_ld = a.k.strides[2], v_ld = a.v.strides[2];
      const int64_t o_ld = a.out.strides[2], g_ld = a.grad_out.strides[2];
      const float* lse = static_cast<const float*>(a.logsumexp.data) + bh * sq;
      // P = exp(scale Q K^T - lse), rebuilt from the saved statistics; dP = dO V^T.
      head_scores(sh, a.q, a.k, b, h, p.data());
      gemm_f32(sq, skv, d, false, gh, g_ld, true, vh, v_ld, dp.data(), skv, 1.f);
      for (int64_t i = 0; i < sq; ++i) {
        const float* gi = gh + i * g_ld;
        const float* oi = oh + i * o_ld;
        double dvec = 0;  // rowsum(dO o O)
        for (int64_t c = 0; c < d; ++c) dvec += double(gi[c]) * double(oi[c]);
        float* prow = p.data() + i * skv;
        float* dsrow = dp.data() + i * skv;
        const int64_t seen = sh.keys_seen(i);
        for (int64_t j = 0; j < skv; ++j) {
          prow[j] = j < seen ? std::exp(prow[j] - lse[i]) : 0.f;
          dsrow[j] = prow[j] * (dsrow[j] - float(dvec));  // dS, in place of dP
        }
      }
      const float scale = float(sh.scale);
      float* dqh = static_cast<float*>(a.dq.data) + bh * sq * d;
      float* dkh = static_cast<float*>(a.dk.data) + bh * skv * d;
      float* dvh = static_cast<float*>(a.dv.data) + bh * skv * d;
      gemm_f32(skv, d, sq, true, p.data(), skv, false, gh, g_ld, dvh, d, 1.f);       // dV = P^T dO
      gemm_f32(sq, d, skv, false, dp.data(), skv, false, kh, k_ld, dqh, d, scale);  // dQ = scale dS K
      gemm_f32(skv, d, sq, true, dp.data(), skv, false, qh, q_ld, dkh, d, scale);   // dK = scale dS^T Q
    }
  }
}

}  // namespace iqa::kernels::cpu
