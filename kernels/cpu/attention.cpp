// Reference fused attention on the CPU: one query row at a time, two passes over the keys (max, then
// exp-sum and output), so no S x S matrix is stored. Data are f32 or f64; dot products and sums are
// carried in f64, which keeps this reference far below the error of the GPU kernels it checks.
// The backward follows FlashAttention-2: P is rebuilt from the saved logsumexp, and
// dS = P o (dP - Dvec) with Dvec_i = rowsum(dO o O)_i (see kernels/attention.h).
// Causal: query i walks only the keys it sees, [0, keys_seen(i)); the others have P = 0 exactly.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/error.h"

namespace iqa::kernels::cpu {

namespace {

// Pointer to row `s` of head (b, h) of a strided [B, H, S, D] operand.
template <class T>
T* row_ptr(T* base, AttentionStrides st, int64_t b, int64_t h, int64_t s) {
  return base + b * st.batch + h * st.head + s * st.seq;
}

double dot(const double* a, const double* b, int64_t n) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// Copies one head's [S, D] rows of a strided operand into a contiguous f64 buffer.
template <class T>
void gather_head(const T* base, AttentionStrides st, int64_t b, int64_t h, int64_t rows, int64_t d,
                 std::vector<double>& dst) {
  dst.resize(size_t(rows * d));
  for (int64_t s = 0; s < rows; ++s) {
    const T* r = row_ptr(base, st, b, h, s);
    for (int64_t c = 0; c < d; ++c) dst[size_t(s * d + c)] = double(r[c]);
  }
}

template <class T>
void forward_typed(const AttentionShape& sh, const T* q, AttentionStrides qs, const T* k, AttentionStrides ks,
                   const T* v, AttentionStrides vs, T* out, AttentionStrides os, T* lse) {
  const int64_t d = sh.head_dim, sq = sh.seq_q, skv = sh.seq_kv;
#pragma omp parallel for schedule(dynamic)
  for (int64_t bh = 0; bh < sh.batch * sh.heads; ++bh) {
    const int64_t b = bh / sh.heads, h = bh % sh.heads;
    std::vector<double> qh, kh, vh;
    std::vector<double> scores(static_cast<size_t>(skv)), o(static_cast<size_t>(d));
    gather_head(q, qs, b, h, sq, d, qh);
    gather_head(k, ks, b, h, skv, d, kh);
    gather_head(v, vs, b, h, skv, d, vh);
    for (int64_t i = 0; i < sq; ++i) {
      const int64_t seen = sh.keys_seen(i);
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < seen; ++j) {
        scores[size_t(j)] = sh.scale * dot(&qh[size_t(i * d)], &kh[size_t(j * d)], d);
        mx = std::max(mx, scores[size_t(j)]);
      }
      double total = 0;
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t j = 0; j < seen; ++j) {
        double p = std::exp(scores[size_t(j)] - mx);  // unnormalised: divided by the total below
        total += p;
        for (int64_t c = 0; c < d; ++c) o[size_t(c)] += p * vh[size_t(j * d + c)];
      }
      T* orow = row_ptr(out, os, b, h, i);
      for (int64_t c = 0; c < d; ++c) orow[c] = T(o[size_t(c)] / total);
      lse[bh * sq + i] = T(mx + std::log(total));
    }
  }
}

template <class T>
void backward_typed(const AttentionShape& sh, const T* q, AttentionStrides qs, const T* k, AttentionStrides ks,
                    const T* v, AttentionStrides vs, const T* out, AttentionStrides os, const T* gout,
                    AttentionStrides gs, const T* lse, T* dq, T* dk, T* dv) {
  const int64_t d = sh.head_dim, sq = sh.seq_q, skv = sh.seq_kv;
  // Heads are independent, so each thread owns whole heads and their dK, dV rows: no races.
#pragma omp parallel for schedule(dynamic)
  for (int64_t bh = 0; bh < sh.batch * sh.heads; ++bh) {
    const int64_t b = bh / sh.heads, h = bh % sh.heads;
    std::vector<double> qh, kh, vh, oh, gh;
    gather_head(q, qs, b, h, sq, d, qh);
    gather_head(k, ks, b, h, skv, d, kh);
    gather_head(v, vs, b, h, skv, d, vh);
    gather_head(out, os, b, h, sq, d, oh);
    gather_head(gout, gs, b, h, sq, d, gh);
    std::vector<double> dqh(size_t(sq * d), 0.0), dkh(size_t(skv * d), 0.0), dvh(size_t(skv * d), 0.0);
    for (int64_t i = 0; i < sq; ++i) {
      const double* qi = &qh[size_t(i * d)];
      const double* gi = &gh[size_t(i * d)];
      const double dvec = dot(gi, &oh[size_t(i * d)], d);  // rowsum(dO o O)
      const double lse_i = double(lse[bh * sq + i]);
      for (int64_t j = 0; j < sh.keys_seen(i); ++j) {
        const double* kj = &kh[size_t(j * d)];
        const double p = std::exp(sh.scale * dot(qi, kj, d) - lse_i);
        const double dp = dot(gi, &vh[size_t(j * d)], d);
        const double ds = p * (dp - dvec) * sh.scale;  // scale folded in: it multiplies both dQ and dK
        for (int64_t c = 0; c < d; ++c) {
          dqh[size_t(i * d + c)] += ds * kj[c];
          dkh[size_t(j * d + c)] += ds * qi[c];
          dvh[size_t(j * d + c)] += p * gi[c];
        }
      }
    }
    for (int64_t i = 0; i < sq * d; ++i) dq[bh * sq * d + i] = T(dqh[size_t(i)]);
    for (int64_t i = 0; i < skv * d; ++i) {
      dk[bh * skv * d + i] = T(dkh[size_t(i)]);
      dv[bh * skv * d + i] = T(dvh[size_t(i)]);
    }
  }
}

void check_dtype(DType dtype, const char* who) {
  IQA_CHECK(dtype == DType::F32 || dtype == DType::F64, who, " (CPU): f32/f64 only, got ", dtype_name(dtype));
}

template <class T>
const T* in(const InOperand<4>& op) {
  return static_cast<const T*>(op.data);
}
template <class T, int R>
T* out(const OutOperand<R>& op) {
  return static_cast<T*>(op.data);
}

template <class T>
void forward_args(const AttentionForwardArgs& a, const AttentionShape& sh) {
  forward_typed(sh, in<T>(a.q), attention_strides(a.q), in<T>(a.k), attention_strides(a.k), in<T>(a.v),
                attention_strides(a.v), out<T>(a.out), attention_strides(a.out), out<T>(a.logsumexp));
}

template <class T>
void backward_args(const AttentionBackwardArgs& a, const AttentionShape& sh) {
  backward_typed(sh, in<T>(a.q), attention_strides(a.q), in<T>(a.k), attention_strides(a.k), in<T>(a.v),
                 attention_strides(a.v), in<T>(a.out), attention_strides(a.out), in<T>(a.grad_out),
                 attention_strides(a.grad_out), static_cast<const T*>(a.logsumexp.data), out<T>(a.dq), out<T>(a.dk),
                 out<T>(a.dv));
}

}  // namespace

void attention_forward(const AttentionForwardArgs& args) {
  check_dtype(args.dtype, "attention_forward");
  const AttentionShape shape = attention_shape(args, "attention_forward");
  if (args.dtype == DType::F32) forward_args<float>(args, shape);
  else forward_args<double>(args, shape);
}

void attention_backward(const AttentionBackwardArgs& args) {
  check_dtype(args.dtype, "attention_backward");
  const AttentionShape shape = attention_shape(args, "attention_backward");
  if (args.dtype == DType::F32) backward_args<float>(args, shape);
  else backward_args<double>(args, shape);
}

}  // namespace iqa::kernels::cpu
