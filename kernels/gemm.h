// GEMM: C[b] = alpha * op(A[b]) op(B[b]) (+ beta * C[b]) (+ bias) (then optional GELU), row-major.
// CPU: OpenBLAS when present, else a cache-blocked OpenMP loop. CUDA: cuBLASLt (bias/GELU epilogues).
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

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

namespace cpu {
void gemm(const GemmArgs& args);
// The OpenMP blocked fallback, callable directly so tests cover it even when OpenBLAS is linked.
void gemm_blocked(const GemmArgs& args);
}  // namespace cpu

namespace cuda {
void gemm(const GemmArgs& args, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
