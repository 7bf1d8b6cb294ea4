// The CPU training path of fused attention (f32): per (batch, head) the formulas of
// kernels/attention.h as GEMMs, with the Sq x Skv score block of one head held in a per-thread buffer.
// The reference (kernels/cpu/attention.cpp) walks one query row at a time with f64 sums and stays
// what tests compare against; this path is the same math in f32 at GEMM speed (OpenBLAS), so CPU
// training and the demos do not spend half their time in exp and dot products.
// Heads run in parallel (OpenMP); each GEMM is then single-threaded: nested regions run serially,
// and OpenBLAS's OpenMP flavour does not start threads of its own inside a parallel region.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/error.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"

namespace iqa::kernels::cpu {

namespace {

const float* head_of(const void* base, AttentionStrides st, int64_t b, int64_t h) {
  return static_cast<const float*>(base) + b * st.batch + h * st.head;
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
void head_scores(const AttentionShape& sh, const float* q, AttentionStrides qs, const float* k, AttentionStrides ks,
                 float* scores) {
  gemm_f32(sh.seq_q, sh.seq_kv, sh.head_dim, false, q, qs.seq, true, k, ks.seq, scores, sh.seq_kv,
           float(sh.scale));
}

void check_f32(DType dtype, const AttentionShape& sh, const char* who) {
  IQA_CHECK(dtype == DType::F32, who, ": f32 only, got ", dtype_name(dtype));
  IQA_CHECK(sh.batch >= 0 && sh.heads >= 0 && sh.seq_q >= 0 && sh.seq_kv > 0 && sh.head_dim > 0, who,
            ": bad shape B=", sh.batch, " H=", sh.heads, " Sq=", sh.seq_q, " Skv=", sh.seq_kv, " D=", sh.head_dim,
            " (Skv and D must be positive)");
}

}  // namespace

void attention_forward_gemm(DType dtype, const AttentionShape& sh, const void* q, AttentionStrides qs, const void* k,
                            AttentionStrides ks, const void* v, AttentionStrides vs, void* out, AttentionStrides os,
                            void* logsumexp) {
  check_f32(dtype, sh, "attention_forward_gemm");
  const int64_t sq = sh.seq_q, skv = sh.seq_kv, d = sh.head_dim;
  if (sq == 0) return;
#pragma omp parallel
  {
    std::vector<float> p(size_t(sq * skv));  // scores, then probabilities, of the head in hand
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < sh.batch * sh.heads; ++bh) {
      const int64_t b = bh / sh.heads, h = bh % sh.heads;
      head_scores(sh, head_of(q, qs, b, h), qs, head_of(k, ks, b, h), ks, p.data());
      float* lse = static_cast<float*>(logsumexp) + bh * sq;
      for (int64_t i = 0; i < sq; ++i) {
        float* row = p.data() + i * skv;
        const float mx = *std::max_element(row, row + skv);
        double total = 0;
        for (int64_t j = 0; j < skv; ++j) total += (row[j] = std::exp(row[j] - mx));
        const float inv = float(1.0 / total);
        for (int64_t j = 0; j < skv; ++j) row[j] *= inv;
        lse[i] = mx + float(std::log(total));
      }
      float* o = static_cast<float*>(out) + b * os.batch + h * os.head;
      gemm_f32(sq, d, skv, false, p.data(), skv, false, head_of(v, vs, b, h), vs.seq, o, os.seq, 1.f);
    }
  }
}

void attention_backward_gemm(DType dtype, const AttentionShape& sh, const void* q, AttentionStrides qs,
                             const void* k, AttentionStrides ks, const void* v, AttentionStrides vs, const void* out,
                             AttentionStrides os, const void* grad_out, AttentionStrides gs, const void* logsumexp,
                             void* dq, void* dk, void* dv) {
  check_f32(dtype, sh, "attention_backward_gemm");
  const int64_t sq = sh.seq_q, skv = sh.seq_kv, d = sh.head_dim;
  if (sq == 0) {  // no queries: nothing flows back to K and V
    std::fill_n(static_cast<float*>(dk), sh.batch * sh.heads * skv * d, 0.f);
    std::fill_n(static_cast<float*>(dv), sh.batch * sh.heads * skv * d, 0.f);
    return;
  }
#pragma omp parallel
  {
    std::vector<float> p(size_t(sq * skv)), dp(size_t(sq * skv));
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < sh.batch * sh.heads; ++bh) {
      const int64_t b = bh / sh.heads, h = bh % sh.heads;
      const float *qh = head_of(q, qs, b, h), *kh = head_of(k, ks, b, h), *vh = head_of(v, vs, b, h);
      const float *oh = head_of(out, os, b, h), *gh = head_of(grad_out, gs, b, h);
      const float* lse = static_cast<const float*>(logsumexp) + bh * sq;
      // P = exp(scale Q K^T - lse), rebuilt from the saved statistics; dP = dO V^T.
      head_scores(sh, qh, qs, kh, ks, p.data());
      gemm_f32(sq, skv, d, false, gh, gs.seq, true, vh, vs.seq, dp.data(), skv, 1.f);
      for (int64_t i = 0; i < sq; ++i) {
        const float* gi = gh + i * gs.seq;
        const float* oi = oh + i * os.seq;
        double dvec = 0;  // rowsum(dO o O)
        for (int64_t c = 0; c < d; ++c) dvec += double(gi[c]) * double(oi[c]);
        float* prow = p.data() + i * skv;
        float* dsrow = dp.data() + i * skv;
        for (int64_t j = 0; j < skv; ++j) {
          prow[j] = std::exp(prow[j] - lse[i]);
          dsrow[j] = prow[j] * (dsrow[j] - float(dvec));  // dS, in place of dP
        }
      }
      const float scale = float(sh.scale);
      float* dqh = static_cast<float*>(dq) + bh * sq * d;
      float* dkh = static_cast<float*>(dk) + bh * skv * d;
      float* dvh = static_cast<float*>(dv) + bh * skv * d;
      gemm_f32(skv, d, sq, true, p.data(), skv, false, gh, gs.seq, dvh, d, 1.f);       // dV = P^T dO
      gemm_f32(sq, d, skv, false, dp.data(), skv, false, kh, ks.seq, dqh, d, scale);  // dQ = scale dS K
      gemm_f32(skv, d, sq, true, dp.data(), skv, false, qh, qs.seq, dkh, d, scale);   // dK = scale dS^T Q
    }
  }
}

}  // namespace iqa::kernels::cpu
