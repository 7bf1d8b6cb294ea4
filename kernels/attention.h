// Fused scaled-dot-product attention, forward and backward, without materialising the S x S matrix.
//
//   S = scale * Q K^T          [B, H, Sq, Skv]
//   P = softmax(S) per row      (rows of Sq)
//   O = P V                     [B, H, Sq, D]
//   lse = log(sum_j exp(S_ij))  [B, H, Sq], saved by the forward so the backward can rebuild P = exp(S - lse)
//
// Backward (the FlashAttention-2 formulation): with dO the upstream gradient,
//   Dvec_i = sum_d dO_id * O_id   (= rowsum(dO o O) = rowsum(P o dP))
//   dV = P^T dO,  dP = dO V^T,  dS = P o (dP - Dvec),  dQ = scale * dS K,  dK = scale * dS^T Q.
//
// Operands (kernels/operand.h) are [B, H, S, D] views whose last dim is contiguous; batch, head and
// sequence strides are free, so Q, K and V can be read straight out of a fused qkv projection laid out
// [B, S, 3, H, D] without a permute copy. No dropout and no arbitrary mask; the one mask is causal:
//
// Causal mask convention: top-left aligned, as torch's scaled_dot_product_attention(is_causal=True)
// and torch.ones(Sq, Skv).tril(): query i sees keys j <= i, whatever Sq and Skv are. Every query row
// then sees at least key 0 (no empty softmax row), and when Skv > Sq the keys past Sq - 1 are seen by
// no query (their dK and dV are 0). CLIP's text tower has Sq == Skv, where top-left and bottom-right
// (FlashAttention >= 2.1's convention for Sq != Skv) coincide. The fused kernels skip the key tiles
// (CUDA forward) or query tiles (CUDA backward) that lie wholly above the diagonal and mask the
// diagonal tile element by element, in the backward's recomputation of P too.
// The CPU and CUDA entry points take the same argument structs; CUDA adds its scratch buffer and stream.
#pragma once
#include <cstdint>

#include "kernels/common.h"
#include "kernels/error.h"
#include "kernels/operand.h"

namespace iqa::kernels {

struct AttentionForwardArgs {
  DType dtype = DType::F32;  // of q, k, v and out
  double scale = 1.0;        // usually 1 / sqrt(head_dim)
  bool causal = false;       // query i sees keys j <= i (see the convention above)
  InOperand<4> q;            // [B, H, Sq, D]
  InOperand<4> k, v;         // [B, H, Skv, D]
  OutOperand<4> out;         // [B, H, Sq, D]
  // [B, H, Sq], contiguous: log(sum_j exp(S_ij)) per query row. CPU: in `dtype` (f64 data keeps f64
  // statistics so gradient checks stay exact); CUDA: f32.
  OutOperand<3> logsumexp;
};

struct AttentionBackwardArgs {
  DType dtype = DType::F32;
  double scale = 1.0;
  bool causal = false;        // as in the forward
  InOperand<4> q, k, v;       // as in the forward
  InOperand<4> out;           // the forward's output
  InOperand<4> grad_out;      // [B, H, Sq, D]
  InOperand<3> logsumexp;     // the forward's
  OutOperand<4> dq, dk, dv;   // contiguous, shaped like q, k, v
};

// The sizes every attention kernel loops over, read off the operands.
struct AttentionShape {
  int64_t batch = 0, heads = 0;
  int64_t seq_q = 0, seq_kv = 0;  // query rows, key/value rows
  int64_t head_dim = 0;           // D of Q, K and V alike
  double scale = 1.0;
  bool causal = false;
  // Whether query i sees key j.
  IQA_HD bool visible(int64_t i, int64_t j) const { return !causal || j <= i; }
  // Keys query i sees: [0, keys_seen(i)).
  IQA_HD int64_t keys_seen(int64_t i) const { return causal ? (i + 1 < seq_kv ? i + 1 : seq_kv) : seq_kv; }
};

// Element strides of one [B, H, S, D] operand (its D stride is 1): what the kernels index rows with.
struct AttentionStrides {
  int64_t batch = 0, head = 0, seq = 0;
};
template <class Ptr>
AttentionStrides attention_strides(const BasicOperand<Ptr, 4>& op) {
  return {op.strides[0], op.strides[1], op.strides[2]};
}

namespace attention_detail {
template <class Ptr, int Rank>
void check_operand_shape(const char* who, const char* name, const BasicOperand<Ptr, Rank>& op,
                         const int64_t (&want)[Rank]) {
  for (int d = 0; d < Rank; ++d)
    IQA_CHECK(op.shape[d] == want[d], who, ": ", name, " dim ", d, " is ", op.shape[d], ", expected ", want[d]);
  IQA_CHECK(op.data != nullptr || op.numel() == 0, who, ": ", name, " has no data");
}
// [B, H, S, D] operands read row by row: the D stride must be 1 (or D == 1).
template <class Ptr>
void check_rows(const char* who, const char* name, const BasicOperand<Ptr, 4>& op) {
  IQA_CHECK(op.strides[3] == 1 || op.shape[3] == 1, who, ": ", name, "'s last dim must be contiguous, stride is ",
            op.strides[3]);
}
// The checks both directions share: out and logsumexp agree with q, v with k.
template <class OutPtr, class LsePtr>
AttentionShape check_operands(const char* who, double scale, bool causal, const InOperand<4>& q, const InOperand<4>& k,
                              const InOperand<4>& v, const BasicOperand<OutPtr, 4>& out,
                              const BasicOperand<LsePtr, 3>& logsumexp) {
  const AttentionShape s{q.shape[0], q.shape[1], q.shape[2], k.shape[2], q.shape[3], scale, causal};
  IQA_CHECK(s.batch >= 0 && s.heads >= 0 && s.seq_q >= 0 && s.seq_kv > 0 && s.head_dim > 0, who, ": bad shape B=",
            s.batch, " H=", s.heads, " Sq=", s.seq_q, " Skv=", s.seq_kv, " D=", s.head_dim,
            " (Skv and D must be positive)");
  check_operand_shape(who, "q", q, {s.batch, s.heads, s.seq_q, s.head_dim});  // its data pointer
  check_operand_shape(who, "k", k, {s.batch, s.heads, s.seq_kv, s.head_dim});
  check_operand_shape(who, "v", v, {s.batch, s.heads, s.seq_kv, s.head_dim});
  check_operand_shape(who, "out", out, {s.batch, s.heads, s.seq_q, s.head_dim});
  check_operand_shape(who, "logsumexp", logsumexp, {s.batch, s.heads, s.seq_q});
  check_rows(who, "q", q), check_rows(who, "k", k), check_rows(who, "v", v), check_rows(who, "out", out);
  IQA_CHECK(logsumexp.is_contiguous(), who, ": logsumexp must be contiguous");
  return s;
}
}  // namespace attention_detail

// Check that the operands agree with one another and return the sizes.
inline AttentionShape attention_shape(const AttentionForwardArgs& a, const char* who) {
  return attention_detail::check_operands(who, a.scale, a.causal, a.q, a.k, a.v, a.out, a.logsumexp);
}
inline AttentionShape attention_shape(const AttentionBackwardArgs& a, const char* who) {
  using namespace attention_detail;
  const AttentionShape s = check_operands(who, a.scale, a.causal, a.q, a.k, a.v, a.out, a.logsumexp);
  check_operand_shape(who, "grad_out", a.grad_out, {s.batch, s.heads, s.seq_q, s.head_dim});
  check_rows(who, "grad_out", a.grad_out);
  check_operand_shape(who, "dq", a.dq, {s.batch, s.heads, s.seq_q, s.head_dim});
  check_operand_shape(who, "dk", a.dk, {s.batch, s.heads, s.seq_kv, s.head_dim});
  check_operand_shape(who, "dv", a.dv, {s.batch, s.heads, s.seq_kv, s.head_dim});
  IQA_CHECK(a.dq.is_contiguous() && a.dk.is_contiguous() && a.dv.is_contiguous(), who,
            ": dq, dk and dv must be contiguous");
  return s;
}

namespace cpu {
// The readable reference, f32 or f64; sums in f64.
void attention_forward(const AttentionForwardArgs& args);
void attention_backward(const AttentionBackwardArgs& args);
// The CPU training path for f32 (kernels/cpu/attention_gemm.cpp): the same formulas as GEMMs per
// head, one Sq x Skv score block per thread, f32 throughout (row sums in f64). Same arguments and
// outputs as the reference above; the engine uses it for f32, the reference for f64.
void attention_forward_gemm(const AttentionForwardArgs& args);
void attention_backward_gemm(const AttentionBackwardArgs& args);
}  // namespace cpu

namespace cuda {
// What the tensor-core kernels take: bf16 or f16 data, head_dim 32, 64 or 128.
inline bool attention_supported(DType dtype, int64_t head_dim) {
  return (dtype == DType::BF16 || dtype == DType::F16) && (head_dim == 32 || head_dim == 64 || head_dim == 128);
}
// The kernels copy 16-byte pieces: every pointer 16-byte aligned and every stride a multiple of
// 8 elements. Callers make a contiguous copy of an operand that fails this.
template <class Ptr>
bool attention_operand_aligned(const BasicOperand<Ptr, 4>& op) {
  return reinterpret_cast<uintptr_t>(op.data) % 16 == 0 && op.strides[0] % 8 == 0 && op.strides[1] % 8 == 0 &&
         op.strides[2] % 8 == 0;
}

// bf16/f16 in and out, f32 accumulation and softmax statistics.
void attention_forward(const AttentionForwardArgs& args, cudaStream_t stream);

// Floats of device scratch the backward needs: the f32 dQ accumulator [B, H, Sq, D] and Dvec [B, H, Sq].
int64_t attention_backward_workspace_floats(const AttentionShape& shape);
// Four launches: Dvec (and zeroing the dQ accumulator), the main dK/dV kernel (which adds dQ into the
// accumulator with f32 atomics), and the dQ conversion. `workspace`: 16-byte aligned f32 scratch of
// attention_backward_workspace_floats() elements.
void attention_backward(const AttentionBackwardArgs& args, float* workspace, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
