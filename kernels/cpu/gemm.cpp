// CPU GEMM: OpenBLAS when the build found it, else (and always callable) a cache-blocked OpenMP kernel.
// The epilogue (bias, GELU) runs as a second pass over C in both cases.
#include "kernels/gemm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/error.h"

#ifdef IQA_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace iqa::kernels::cpu {

namespace {

// Blocking of gemm_blocked. A packed B panel of kPanelK x kPanelN (256 KiB in f32) stays in L2 while
// rows of A stream past it. The micro kernel keeps a kMicroRows x kMicroCols block of C in registers for
// the whole K panel (8 accumulators + 2 for B + 4 A broadcasts = 14 SSE2 registers in f32, no spills): that
// keeps it compute-bound instead of bound by L1 traffic. Its fixed-width column loop is what the compiler
// vectorises. Panel columns are zero-padded to a multiple of kMicroCols so the micro kernel never
// branches on ragged edges.
constexpr int64_t kPanelK = 256;
constexpr int64_t kPanelN = 256;
constexpr int64_t kTileM = 32;
constexpr int kMicroRows = 4;
constexpr int kMicroCols = 8;

void check_args(const GemmArgs& g, const char* who) {
  IQA_CHECK(g.dtype == DType::F32 || g.dtype == DType::F64, who, ": the CPU GEMM computes in f32/f64, got ",
            dtype_name(g.dtype));
  IQA_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 0, who, ": negative size m=", g.m, " n=", g.n,
            " k=", g.k, " batch=", g.batch);
  int64_t a_cols = g.trans_a ? g.m : g.k, b_cols = g.trans_b ? g.k : g.n;
  IQA_CHECK(g.lda >= std::max<int64_t>(1, a_cols), who, ": lda ", g.lda, " < stored columns of A ", a_cols);
  IQA_CHECK(g.ldb >= std::max<int64_t>(1, b_cols), who, ": ldb ", g.ldb, " < stored columns of B ", b_cols);
  IQA_CHECK(g.ldc >= std::max<int64_t>(1, g.n), who, ": ldc ", g.ldc, " < n ", g.n);
  IQA_CHECK(g.epilogue == GemmEpilogue::None || g.bias != nullptr, who, ": bias epilogue without a bias pointer");
}

template <class T>
T gelu_value(GeluKind kind, T x) {
  if (kind == GeluKind::Erf) return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
  const T c = T(0.7978845608028654);  // sqrt(2/pi)
  return T(0.5) * x * (T(1) + std::tanh(c * (x + T(0.044715) * x * x * x)));
}

template <class T>
T gelu_derivative(GeluKind kind, T x) {
  if (kind == GeluKind::Erf) {
    const T inv_sqrt_2pi = T(0.3989422804014327);
    return T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2))) + x * inv_sqrt_2pi * std::exp(T(-0.5) * x * x);
  }
  const T c = T(0.7978845608028654);
  T t = std::tanh(c * (x + T(0.044715) * x * x * x));
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * c * (T(1) + T(3 * 0.044715) * x * x);
}

// Adds the bias row and applies the activation to every row of one C matrix.
template <class T>
void apply_epilogue(const GemmArgs& g, T* c) {
  if (g.epilogue == GemmEpilogue::None) return;
  const T* bias = static_cast<const T*>(g.bias);
  bool act = g.epilogue != GemmEpilogue::Bias;
  GeluKind kind = g.epilogue == GemmEpilogue::BiasGeluTanh ? GeluKind::Tanh : GeluKind::Erf;
#pragma omp parallel for if (g.m * g.n > 32768)
  for (int64_t i = 0; i < g.m; ++i) {
    T* row = c + i * g.ldc;
    for (int64_t j = 0; j < g.n; ++j) {
      T v = row[j] + bias[j];
      row[j] = act ? gelu_value(kind, v) : v;
    }
  }
}

// C = beta * C, treating beta == 0 as "overwrite" so uninitialised C (NaN garbage) never leaks in.
template <class T>
void scale_c(const GemmArgs& g, T* c) {
  if (g.beta == 1.f) return;
#pragma omp parallel for if (g.m * g.n > 32768)
  for (int64_t i = 0; i < g.m; ++i) {
    T* row = c + i * g.ldc;
    for (int64_t j = 0; j < g.n; ++j) row[j] = g.beta == 0.f ? T(0) : T(g.beta) * row[j];
  }
}

// acc = op(A)[i:i+rows, pc:pc+kc] * packed[:, j0:j0+kMicroCols], then C block += alpha * acc.
template <class T>
inline void micro_kernel(const GemmArgs& g, const T* a, const T* packed, int64_t panel_ld, int64_t i, int rows,
                         int64_t pc, int64_t kc, int64_t j0, T* c, int64_t cols, T alpha) {
  T acc[kMicroRows][kMicroCols] = {};
  const T* arow[kMicroRows];
  for (int r = 0; r < kMicroRows; ++r) arow[r] = a + (i + (r < rows ? r : 0)) * (g.trans_a ? 1 : g.lda);
  const int64_t a_step = g.trans_a ? g.lda : 1;  // distance between consecutive k of one row of op(A)
  for (int64_t p = 0; p < kc; ++p) {
    const T* brow = packed + p * panel_ld + j0;
    const int64_t ka = (pc + p) * a_step;
#pragma GCC unroll 4
    for (int r = 0; r < kMicroRows; ++r) {
      const T av = r < rows ? arow[r][ka] : T(0);
#pragma omp simd
      for (int j = 0; j < kMicroCols; ++j) acc[r][j] += av * brow[j];
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) c[r * g.ldc + j] += alpha * acc[r][j];
}

template <class T>
void gemm_blocked_one(const GemmArgs& g, const T* a, const T* b, T* c, std::vector<T>& packed) {
  scale_c(g, c);
  if (g.k == 0 || g.m == 0 || g.n == 0) return;
  const T alpha = T(g.alpha);
  for (int64_t jc = 0; jc < g.n; jc += kPanelN) {
    const int64_t nc = std::min(kPanelN, g.n - jc);
    const int64_t panel_ld = (nc + kMicroCols - 1) / kMicroCols * kMicroCols;
    for (int64_t pc = 0; pc < g.k; pc += kPanelK) {
      const int64_t kc = std::min(kPanelK, g.k - pc);
      // Pack op(B)[pc:pc+kc, jc:jc+nc] row-major (row stride panel_ld, zero padded), whatever B's transpose.
#pragma omp parallel for if (kc * nc > 16384)
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t j = 0; j < panel_ld; ++j)
          packed[size_t(p * panel_ld + j)] =
              j >= nc ? T(0) : g.trans_b ? b[(jc + j) * g.ldb + pc + p] : b[(pc + p) * g.ldb + jc + j];

      const int64_t tiles_m = (g.m + kTileM - 1) / kTileM, tiles_n = panel_ld / kMicroCols;
#pragma omp parallel for collapse(2) schedule(static) if (g.m * nc * kc > 65536)
      for (int64_t tm = 0; tm < tiles_m; ++tm) {
        for (int64_t tn = 0; tn < tiles_n; ++tn) {
          const int64_t i_end = std::min(g.m, (tm + 1) * kTileM), j0 = tn * kMicroCols;
          const int64_t cols = std::min<int64_t>(kMicroCols, nc - j0);
          for (int64_t i = tm * kTileM; i < i_end; i += kMicroRows) {
            const int rows = int(std::min<int64_t>(kMicroRows, i_end - i));
            micro_kernel(g, a, packed.data(), panel_ld, i, rows, pc, kc, j0, c + i * g.ldc + jc + j0, cols, alpha);
          }
        }
      }
    }
  }
}

template <class T>
void gemm_blocked_typed(const GemmArgs& g) {
  std::vector<T> packed(size_t(kPanelK * kPanelN));  // kPanelN is a multiple of kMicroCols
  for (int64_t bi = 0; bi < g.batch; ++bi) {
    const T* a = static_cast<const T*>(g.a) + bi * g.stride_a;
    const T* b = static_cast<const T*>(g.b) + bi * g.stride_b;
    T* c = static_cast<T*>(g.c) + bi * g.stride_c;
    gemm_blocked_one(g, a, b, c, packed);
    apply_epilogue(g, c);
  }
}

#ifdef IQA_WITH_OPENBLAS
template <class T>
void gemm_blas_typed(const GemmArgs& g) {
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans, tb = g.trans_b ? CblasTrans : CblasNoTrans;
  for (int64_t bi = 0; bi < g.batch; ++bi) {
    const T* a = static_cast<const T*>(g.a) + bi * g.stride_a;
    const T* b = static_cast<const T*>(g.b) + bi * g.stride_b;
    T* c = static_cast<T*>(g.c) + bi * g.stride_c;
    if (g.k == 0 || g.m == 0 || g.n == 0) {
      scale_c(g, c);  // BLAS may skip C entirely when k == 0; keep the beta semantics explicit
    } else if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, ta, tb, int(g.m), int(g.n), int(g.k), g.alpha, a, int(g.lda), b, int(g.ldb),
                  g.beta, c, int(g.ldc));
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, int(g.m), int(g.n), int(g.k), double(g.alpha), a, int(g.lda), b,
                  int(g.ldb), double(g.beta), c, int(g.ldc));
    }
    apply_epilogue(g, c);
  }
}
#endif

}  // namespace

void gemm_blocked(const GemmArgs& args) {
  check_args(args, "gemm_blocked");
  if (args.dtype == DType::F32) gemm_blocked_typed<float>(args);
  else gemm_blocked_typed<double>(args);
}

void gemm(const GemmArgs& args) {
#ifdef IQA_WITH_OPENBLAS
  check_args(args, "gemm");
  const int64_t int_max = 2147483647;
  // cblas takes int sizes; anything larger goes through the blocked kernel.
  if (std::max({args.m, args.n, args.k, args.lda, args.ldb, args.ldc}) <= int_max) {
    if (args.dtype == DType::F32) gemm_blas_typed<float>(args);
    else gemm_blas_typed<double>(args);
    return;
  }
#endif
  gemm_blocked(args);
}

void gelu_inplace(GeluKind kind, DType dtype, void* y, int64_t n) {
  IQA_CHECK(dtype == DType::F32 || dtype == DType::F64, "gelu_inplace (CPU): f32/f64 only, got ", dtype_name(dtype));
  auto run = [&](auto* p) {
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) p[i] = gelu_value(kind, p[i]);
  };
  if (dtype == DType::F32) run(static_cast<float*>(y));
  else run(static_cast<double*>(y));
}

void gelu_backward(GeluKind kind, DType dtype, const void* pre, const void* grad_out, void* grad_pre, int64_t n) {
  IQA_CHECK(dtype == DType::F32 || dtype == DType::F64, "gelu_backward (CPU): f32/f64 only, got ", dtype_name(dtype));
  auto run = [&](auto* out) {
    using T = std::remove_pointer_t<decltype(out)>;
    const T* x = static_cast<const T*>(pre);
    const T* g = static_cast<const T*>(grad_out);
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) out[i] = g[i] * gelu_derivative(kind, x[i]);
  };
  if (dtype == DType::F32) run(static_cast<float*>(grad_pre));
  else run(static_cast<double*>(grad_pre));
}

}  // namespace iqa::kernels::cpu
