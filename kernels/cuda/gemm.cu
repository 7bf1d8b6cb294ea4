// CUDA GEMM through cuBLASLt, plus the GELU passes linear_gelu needs.
//
// Row-major C = op(A) op(B) is computed as the column-major product C^T = op(B)^T op(A)^T: a row-major
// matrix read column-major is its transpose, so cuBLASLt's "A" is our B, its "B" our A, and no data moves.
// Descriptors and the heuristic's algorithm choice are cached per shape key; the handle per device and
// the 32 MiB workspace per (device, stream), so two streams never share scratch.
#include <cublasLt.h>

#include <map>
#include <mutex>
#include <tuple>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/gemm.h"

namespace iqa::kernels::cuda {

namespace {

using cuda_detail::from_f32;
using cuda_detail::grid_for;
using cuda_detail::to_f32;

constexpr size_t kWorkspaceBytes = 32u << 20;

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: fail(cat("cuda::gemm: unsupported dtype ", dtype_name(t), " (f32/bf16/f16)"));
  }
}

// Largest power of two (up to 256) dividing the address: cuBLASLt picks kernels by operand alignment.
uint32_t alignment_of(const void* p) {
  auto v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && (v % a) != 0) a >>= 1;
  return a;
}

struct PlanKey {
  int device;
  DType dtype;
  GemmEpilogue epilogue;
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc, batch, stride_a, stride_b, stride_c;
  uint32_t align_a, align_b, align_c, align_bias;
  auto tie() const {
    return std::tie(device, dtype, epilogue, trans_a, trans_b, m, n, k, lda, ldb, ldc, batch, stride_a, stride_b,
                    stride_c, align_a, align_b, align_c, align_bias);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t lt_a = nullptr, lt_b = nullptr, lt_c = nullptr;  // cuBLASLt's A (our B), B (our A), C=D
  cublasLtMatmulAlgo_t algo{};
};

struct State {
  std::mutex mutex;
  std::map<int, cublasLtHandle_t> handles;
  std::map<std::pair<int, cudaStream_t>, void*> workspaces;
  std::map<PlanKey, Plan> plans;
};
// Leaked on purpose: destroying handles at static-destruction time races the CUDA runtime's own teardown.
State& state() {
  static State* s = new State;
  return *s;
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                   int64_t stride) {
  cublasLtMatrixLayout_t l;
  IQA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    int32_t count = int32_t(batch);
    IQA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    IQA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return l;
}

cublasLtEpilogue_t lt_epilogue(GemmEpilogue e) {
  switch (e) {
    case GemmEpilogue::None: return CUBLASLT_EPILOGUE_DEFAULT;
    case GemmEpilogue::Bias: return CUBLASLT_EPILOGUE_BIAS;
    case GemmEpilogue::BiasGelu: return CUBLASLT_EPILOGUE_BIAS;  // erf-GELU runs as our own pass after
    case GemmEpilogue::BiasGeluTanh: return CUBLASLT_EPILOGUE_GELU_BIAS;  // cuBLASLt's GELU is the tanh form
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

Plan build_plan(cublasLtHandle_t handle, const PlanKey& key, const GemmArgs& g) {
  Plan p;
  cudaDataType_t type = cuda_type(g.dtype);
  IQA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t op_a = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
  cublasOperation_t op_b = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  IQA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  IQA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  cublasLtEpilogue_t epi = lt_epilogue(g.epilogue);
  IQA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  if (g.epilogue != GemmEpilogue::None)
    IQA_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)));
  // Column-major shapes as stored: our row-major B [k, n] is column-major n x k (ld ldb), and so on.
  p.lt_a = g.trans_b ? make_layout(type, g.k, g.n, g.ldb, g.batch, g.stride_b)
                     : make_layout(type, g.n, g.k, g.ldb, g.batch, g.stride_b);
  p.lt_b = g.trans_a ? make_layout(type, g.m, g.k, g.lda, g.batch, g.stride_a)
                     : make_layout(type, g.k, g.m, g.lda, g.batch, g.stride_a);
  p.lt_c = make_layout(type, g.n, g.m, g.ldc, g.batch, g.stride_c);

  cublasLtMatmulPreference_t pref;
  IQA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = kWorkspaceBytes;
  IQA_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  IQA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                        &key.align_b, sizeof(uint32_t)));
  IQA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                        &key.align_a, sizeof(uint32_t)));
  IQA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                        &key.align_c, sizeof(uint32_t)));
  IQA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                        &key.align_c, sizeof(uint32_t)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.lt_a, p.lt_b, p.lt_c, p.lt_c, pref, 1,
                                                     &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  IQA_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0, "cuda::gemm: cuBLASLt has no algorithm for ",
            dtype_name(g.dtype), " m=", g.m, " n=", g.n, " k=", g.k, " trans_a=", g.trans_a, " trans_b=", g.trans_b,
            " lda=", g.lda, " ldb=", g.ldb, " ldc=", g.ldc, " batch=", g.batch, " (status ", int(st), ")");
  p.algo = result.algo;
  return p;
}

template <class T>
__device__ __forceinline__ float gelu_f(GeluKind kind, float x) {
  if (kind == GeluKind::Erf) return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
  return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

// GELU over `rows` rows of `cols` elements at row stride `ld` (the GEMM output, possibly padded).
template <class T>
__global__ void gelu_rows_kernel(GeluKind kind, T* y, int64_t rows, int64_t cols, int64_t ld) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    T* p = y + (i / cols) * ld + i % cols;
    *p = from_f32<T>(gelu_f<T>(kind, to_f32(*p)));
  }
}

template <class T>
__global__ void gelu_backward_kernel(GeluKind kind, const T* pre, const T* g, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float x = to_f32(pre[i]), d;
    if (kind == GeluKind::Erf) {
      d = 0.5f * (1.f + erff(x * 0.70710678118654752f)) + x * 0.3989422804014327f * __expf(-0.5f * x * x);
    } else {
      const float c = 0.7978845608028654f;
      float t = tanhf(c * (x + 0.044715f * x * x * x));
      d = 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * c * (1.f + 3.f * 0.044715f * x * x);
    }
    out[i] = from_f32<T>(to_f32(g[i]) * d);
  }
}

void gelu_rows(GeluKind kind, DType dtype, void* y, int64_t rows, int64_t cols, int64_t ld, cudaStream_t stream) {
  if (rows * cols == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    gelu_rows_kernel<T><<<grid_for(rows * cols, 256), 256, 0, stream>>>(kind, static_cast<T*>(y), rows, cols, ld);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void gemm(const GemmArgs& g, cudaStream_t stream) {
  cuda_type(g.dtype);  // validates the dtype
  IQA_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 0, "cuda::gemm: negative size");
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  IQA_CHECK(g.k > 0, "cuda::gemm: k == 0 is not supported by cuBLASLt (handle it in the caller)");
  IQA_CHECK(g.epilogue == GemmEpilogue::None || g.bias != nullptr, "cuda::gemm: bias epilogue without a bias");
  IQA_CHECK(g.batch <= 2147483647, "cuda::gemm: batch ", g.batch, " exceeds cuBLASLt's int32 batch count");
  int device = 0;
  IQA_CUDA_CHECK(cudaGetDevice(&device));
  PlanKey key{device, g.dtype, g.epilogue, g.trans_a, g.trans_b, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch,
              g.stride_a, g.stride_b, g.stride_c, alignment_of(g.a), alignment_of(g.b), alignment_of(g.c),
              g.bias ? alignment_of(g.bias) : 256u};
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto hit = s.handles.find(device);
  if (hit == s.handles.end()) {
    cublasLtHandle_t h;
    IQA_CUBLAS_CHECK(cublasLtCreate(&h));
    hit = s.handles.emplace(device, h).first;
  }
  cublasLtHandle_t handle = hit->second;
  void*& workspace = s.workspaces[{device, stream}];
  if (!workspace) IQA_CUDA_CHECK(cudaMalloc(&workspace, kWorkspaceBytes));  // once per (device, stream)
  auto pit = s.plans.find(key);
  if (pit == s.plans.end()) pit = s.plans.emplace(key, build_plan(handle, key, g)).first;
  Plan& p = pit->second;
  if (g.epilogue != GemmEpilogue::None)  // the bias address changes between calls with the same shape
    IQA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)));
  const float alpha = g.alpha, beta = g.beta;
  IQA_CUBLAS_CHECK(cublasLtMatmul(handle, p.desc, &alpha, g.b, p.lt_a, g.a, p.lt_b, &beta, g.c, p.lt_c, g.c, p.lt_c,
                                  &p.algo, workspace, kWorkspaceBytes, stream));
  if (g.epilogue == GemmEpilogue::BiasGelu) {
    if (g.stride_c == g.m * g.ldc || g.batch == 1) {
      gelu_rows(GeluKind::Erf, g.dtype, g.c, g.batch * g.m, g.n, g.ldc, stream);
    } else {
      for (int64_t b = 0; b < g.batch; ++b)
        gelu_rows(GeluKind::Erf, g.dtype, static_cast<char*>(g.c) + b * g.stride_c * int64_t(dtype_size(g.dtype)),
                  g.m, g.n, g.ldc, stream);
    }
  }
}

void gelu_inplace(GeluKind kind, DType dtype, void* y, int64_t n, cudaStream_t stream) {
  gelu_rows(kind, dtype, y, 1, n, n, stream);
}

void gelu_backward(GeluKind kind, DType dtype, const void* pre, const void* grad_out, void* grad_pre, int64_t n,
                   cudaStream_t stream) {
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    gelu_backward_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(kind, static_cast<const T*>(pre),
                                                                 static_cast<const T*>(grad_out),
                                                                 static_cast<T*>(grad_pre), n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace iqa::kernels::cuda
