// GEMM: C[b] = alpha * op(A[b]) op(B[b]) (+ beta * C[b]) (+ bias) (then optional GELU), row-major.
// CPU: OpenBLAS when present, else a cache-blocked OpenMP loop. CUDA: cuBLASLt (bias/GELU epilogues).
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

// BiasGelu is the exact (erf) GELU, BiasGeluTanh the tanh approximation (what cuBLASLt's epilogue
// computes, so only that one runs inside cuBLASLt; erf-GELU is a separate pass there).
enum class GemmEpilogue : uint8_t { None, Bias, BiasGelu, BiasGeluTanh };

struct GemmArgs {
  // Row-major shapes after the transposes: op(A) is [m, k], op(B) is [k, n], C is [m, n].
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;  // A stored [k, m] / B stored [n, k] when set
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
  int64_t lda = 0, ldb = 0, ldc = 0;      // leading dims (row strides) as stored
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // batch strides in elements (0 = broadcast)
  float alpha = 1.f, beta = 0.f;
  DType dtype = DType::F32;               // of A, B and C (fp32 accumulation always)
  GemmEpilogue epilogue = GemmEpilogue::None;
  const void* bias = nullptr;             // [n], same dtype as C, added to every row
};

// Which GELU a fused epilogue or its backward uses.
enum class GeluKind : uint8_t { Erf, Tanh };

namespace cpu {
void gemm(const GemmArgs& args);
// The OpenMP blocked fallback, callable directly so tests cover it even when OpenBLAS is linked.
void gemm_blocked(const GemmArgs& args);
// y = GELU(y) in place on n contiguous elements (f32/f64): the epilogue's activation.
void gelu_inplace(GeluKind kind, DType dtype, void* y, int64_t n);
// grad_pre = grad_out * GELU'(pre), for linear_gelu's backward (which recomputes pre = x W^T + b).
void gelu_backward(GeluKind kind, DType dtype, const void* pre, const void* grad_out, void* grad_pre,
                   int64_t n);
}  // namespace cpu

namespace cuda {
// f32/bf16/f16 via cuBLASLt with CUBLAS_COMPUTE_32F (f32 stays exact fp32: no TF32). Requires k > 0.
void gemm(const GemmArgs& args, cudaStream_t stream);
void gelu_inplace(GeluKind kind, DType dtype, void* y, int64_t n, cudaStream_t stream);
void gelu_backward(GeluKind kind, DType dtype, const void* pre, const void* grad_out, void* grad_pre,
                   int64_t n, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
