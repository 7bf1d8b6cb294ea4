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
// Operands are [B, H, S, D] views whose last dim is contiguous; batch, head and sequence strides are
// free, so Q, K and V can be read straight out of a fused qkv projection laid out [B, S, 3, H, D]
// without a permute copy. Non-causal, no mask, no dropout.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace iqa::kernels {

struct AttentionShape {
  int64_t batch = 0, heads = 0;
  int64_t seq_q = 0, seq_kv = 0;  // query rows, key/value rows
  int64_t head_dim = 0;           // D of Q, K and V alike
  double scale = 1.0;             // usually 1 / sqrt(head_dim)
};

// Element strides of one [B, H, S, D] operand; the D stride is 1.
struct AttentionStrides {
  int64_t batch = 0, head = 0, seq = 0;
};

// Strides of a contiguous [B, H, S, D] buffer.
inline AttentionStrides contiguous_attention_strides(int64_t heads, int64_t seq, int64_t head_dim) {
  return {heads * seq * head_dim, seq * head_dim, head_dim};
}

namespace cpu {
// The readable reference, f32 or f64 (`dtype`); sums in the data type. `logsumexp` is contiguous
// [B, H, Sq] in the data type (f64 data keeps f64 statistics so gradient checks stay exact).
void attention_forward(DType dtype, const AttentionShape& shape, const void* q, AttentionStrides q_strides,
                       const void* k, AttentionStrides k_strides, const void* v, AttentionStrides v_strides, void* out,
                       AttentionStrides out_strides, void* logsumexp);
// dq, dk, dv are written as contiguous [B, H, S, D] buffers.
void attention_backward(DType dtype, const AttentionShape& shape, const void* q, AttentionStrides q_strides,
                        const void* k, AttentionStrides k_strides, const void* v, AttentionStrides v_strides,
                        const void* out, AttentionStrides out_strides, const void* grad_out,
                        AttentionStrides grad_out_strides, const void* logsumexp, void* dq, void* dk, void* dv);
// The CPU training path for f32 (kernels/cpu/attention_gemm.cpp): the same formulas as GEMMs per
// head, one Sq x Skv score block per thread, f32 throughout (row sums in f64). Same arguments and
// outputs as the reference above; the engine uses it for f32, the reference for f64.
void attention_forward_gemm(DType dtype, const AttentionShape& shape, const void* q, AttentionStrides q_strides,
                            const void* k, AttentionStrides k_strides, const void* v, AttentionStrides v_strides,
                            void* out, AttentionStrides out_strides, void* logsumexp);
void attention_backward_gemm(DType dtype, const AttentionShape& shape, const void* q, AttentionStrides q_strides,
                             const void* k, AttentionStrides k_strides, const void* v, AttentionStrides v_strides,
                             const void* out, AttentionStrides out_strides, const void* grad_out,
                             AttentionStrides grad_out_strides, const void* logsumexp, void* dq, void* dk, void* dv);
}  // namespace cpu

namespace cuda {
// What the tensor-core kernels take: bf16 or f16 data, head_dim 32, 64 or 128.
inline bool attention_supported(DType dtype, int64_t head_dim) {
  return (dtype == DType::BF16 || dtype == DType::F16) && (head_dim == 32 || head_dim == 64 || head_dim == 128);
}
// The kernels copy 16-byte pieces: every pointer 16-byte aligned and every stride a multiple of
// 8 elements. Callers make a contiguous copy of an operand that fails this.
inline bool attention_operand_aligned(const void* p, AttentionStrides s) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && s.batch % 8 == 0 && s.head % 8 == 0 && s.seq % 8 == 0;
}

// bf16/f16 in and out, f32 accumulation and softmax statistics; `logsumexp` f32 [B, H, Sq] contiguous.
void attention_forward(DType dtype, const AttentionShape& shape, const void* q, AttentionStrides q_strides,
                       const void* k, AttentionStrides k_strides, const void* v, AttentionStrides v_strides, void* out,
                       AttentionStrides out_strides, float* logsumexp, cudaStream_t stream);

// Floats of device scratch the backward needs: the f32 dQ accumulator [B, H, Sq, D] and Dvec [B, H, Sq].
int64_t attention_backward_workspace_floats(const AttentionShape& shape);
// dq, dk, dv: contiguous [B, H, S, D] in the data type. Four launches: Dvec (and zeroing the dQ
// accumulator), the main dK/dV kernel (which adds dQ into the accumulator with f32 atomics), and the
// dQ conversion.
void attention_backward(DType dtype, const AttentionShape& shape, const void* q, AttentionStrides q_strides,
                        const void* k, AttentionStrides k_strides, const void* v, AttentionStrides v_strides,
                        const void* out, AttentionStrides out_strides, const void* grad_out,
                        AttentionStrides grad_out_strides, const float* logsumexp, void* dq, void* dk, void* dv,
                        float* workspace, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
