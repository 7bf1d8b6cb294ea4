// CUDA elementwise kernels: binary ops with broadcasting, unary forward/backward, where.
// Floating types compute in f32 (bf16/f16 are converted on load and rounded once on store);
// integer types compute natively, so index arithmetic in i64 stays exact.
//
// Contiguous same-shape (or tensor-by-scalar) inputs whose pointers are 16-byte aligned take a
// vectorized path: each thread moves 16 bytes per load/store (4 f32, 8 bf16), which is what lets a
// memory-bound op approach copy bandwidth. Everything else goes through the strided kernel, which
// uses 32-bit index math whenever the offsets fit (64-bit division is several times slower).
#include <type_traits>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/cuda/elementwise_math.cuh"
#include "kernels/elementwise.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kBlock = 256;

// ---- compute type: f32 for floating types, the type itself for integers ----
template <class T>
__device__ __forceinline__ auto load_c(T v) {
  if constexpr (std::is_integral_v<T>) return v;
  else return to_f32<T>(v);
}
template <class T, class C>
__device__ __forceinline__ T store_c(C v) {
  if constexpr (std::is_integral_v<T>) return T(v);
  else return from_f32<T>(v);
}

// N elements moved as one aligned load/store (N = 1 is the scalar fallback).
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};
template <class T, bool kVec>
constexpr int pack_width() { return kVec ? int(16 / sizeof(T)) : 1; }

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// ---- op functors (computed in the compute type C) ----
constexpr bool is_comparison(BinaryOp op) { return op == BinaryOp::Gt || op == BinaryOp::Lt || op == BinaryOp::Eq; }

template <BinaryOp OP>
struct BinaryFn {
  template <class C>
  __device__ __forceinline__ C operator()(C a, C b) const {
    if constexpr (OP == BinaryOp::Add) return C(a + b);
    else if constexpr (OP == BinaryOp::Sub) return C(a - b);
    else if constexpr (OP == BinaryOp::Mul) return C(a * b);
    else if constexpr (OP == BinaryOp::Div) return C(a / b);
    // NaN propagates (a != a only for NaN); ties keep a. Same rule as the CPU reference.
    else if constexpr (OP == BinaryOp::Max) return (a >= b || a != a) ? a : b;
    else return (a <= b || a != a) ? a : b;
  }
};
template <BinaryOp OP>
struct CompareFn {
  template <class C>
  __device__ __forceinline__ uint8_t operator()(C a, C b) const {
    if constexpr (OP == BinaryOp::Gt) return a > b;
    else if constexpr (OP == BinaryOp::Lt) return a < b;
    else return a == b;
  }
};
template <UnaryOp OP>
struct UnaryForwardFn {
  float p0, p1;
  __device__ __forceinline__ float operator()(float x) const { return unary_forward_f32<OP>(x, p0, p1); }
};
template <UnaryOp OP>
struct UnaryBackwardFn {
  float p0, p1;
  __device__ __forceinline__ float operator()(float saved, float g) const {
    return g * unary_derivative_f32<OP>(saved, p0, p1);
  }
};

// ---- contiguous kernels (grid-stride; the tail past the last full pack runs element by element) ----
template <class T, bool kVec, class F>
__global__ void map1_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t n, F f) {
  constexpr int N = pack_width<T, kVec>();
  using P = Pack<T, N>;
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x, stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t npack = n / N;
  for (int64_t v = tid; v < npack; v += stride) {
    P px = reinterpret_cast<const P*>(x)[v], po;
#pragma unroll
    for (int k = 0; k < N; ++k) po.v[k] = store_c<T>(f(load_c(px.v[k])));
    reinterpret_cast<P*>(out)[v] = po;
  }
  for (int64_t i = npack * N + tid; i < n; i += stride) out[i] = store_c<T>(f(load_c(x[i])));
}

// out = f(x, y); with kYScalar, y is one element broadcast against all of x.
template <class T, bool kVec, bool kYScalar, class F>
__global__ void map2_kernel(const T* __restrict__ x, const T* __restrict__ y, T* __restrict__ out, int64_t n, F f) {
  constexpr int N = pack_width<T, kVec>();
  using P = Pack<T, N>;
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x, stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t npack = n / N;
  decltype(load_c(y[0])) y0{};
  if constexpr (kYScalar) y0 = load_c(y[0]);
  for (int64_t v = tid; v < npack; v += stride) {
    P px = reinterpret_cast<const P*>(x)[v], py, po;
    if constexpr (!kYScalar) py = reinterpret_cast<const P*>(y)[v];
#pragma unroll
    for (int k = 0; k < N; ++k) po.v[k] = store_c<T>(f(load_c(px.v[k]), kYScalar ? y0 : load_c(py.v[k])));
    reinterpret_cast<P*>(out)[v] = po;
  }
  for (int64_t i = npack * N + tid; i < n; i += stride)
    out[i] = store_c<T>(f(load_c(x[i]), kYScalar ? y0 : load_c(y[i])));
}

template <class T, bool kYScalar, class F>
void launch_map2(const T* x, const T* y, T* out, int64_t n, F f, cudaStream_t s) {
  bool vec = aligned16(x) && aligned16(out) && (kYScalar || aligned16(y));
  int64_t work = vec ? n / int64_t(16 / sizeof(T)) + 1 : n;
  if (vec) map2_kernel<T, true, kYScalar><<<grid_for(work, kBlock), kBlock, 0, s>>>(x, y, out, n, f);
  else map2_kernel<T, false, kYScalar><<<grid_for(work, kBlock), kBlock, 0, s>>>(x, y, out, n, f);
  IQA_CUDA_CHECK_LAUNCH();
}

template <class T, class F>
void launch_map1(const T* x, T* out, int64_t n, F f, cudaStream_t s) {
  bool vec = aligned16(x) && aligned16(out);
  int64_t work = vec ? n / int64_t(16 / sizeof(T)) + 1 : n;
  if (vec) map1_kernel<T, true><<<grid_for(work, kBlock), kBlock, 0, s>>>(x, out, n, f);
  else map1_kernel<T, false><<<grid_for(work, kBlock), kBlock, 0, s>>>(x, out, n, f);
  IQA_CUDA_CHECK_LAUNCH();
}

// ---- strided (broadcasting) kernels ----
// Dims stored innermost first so the unrolled loop indexes the kernel parameters with constants.
template <class I, int K>
struct RevLayout {
  int ndim = 0;
  I shape[kMaxDims] = {};
  I strides[K][kMaxDims] = {};  // one stride row per operand
};

template <class I, int K>
RevLayout<I, K> reverse_layout(int ndim, const int64_t* shape, const int64_t* const* strides) {
  RevLayout<I, K> r;
  r.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    r.shape[d] = I(shape[ndim - 1 - d]);
    for (int k = 0; k < K; ++k) r.strides[k][d] = I(strides[k][ndim - 1 - d]);
  }
  return r;
}

// Unsigned 32-bit index math is safe when strides are non-negative and every logical index and
// operand offset fits in int32 (then i + grid stride cannot wrap either: < 2^31 + 2^28).
bool fits_u32(int ndim, const int64_t* shape, const int64_t* const* strides, int k_operands, int64_t n) {
  if (n > INT32_MAX) return false;
  for (int k = 0; k < k_operands; ++k) {
    int64_t max_off = 0;
    for (int d = 0; d < ndim; ++d) {
      if (strides[k][d] < 0) return false;
      max_off += (shape[d] - 1) * strides[k][d];
    }
    if (max_off > INT32_MAX) return false;
  }
  return true;
}

template <class I, int K>
__device__ __forceinline__ void offsets_of(const RevLayout<I, K>& l, I linear, I (&off)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d >= l.ndim) break;
    I idx = linear % l.shape[d];
    linear /= l.shape[d];
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] += idx * l.strides[k][d];
  }
}

// f returns the stored value (already converted to Out).
template <class T, class Out, class I, class F>
__global__ void binary_strided_kernel(const T* __restrict__ a, const T* __restrict__ b, Out* __restrict__ out,
                                      RevLayout<I, 2> l, I n, F f) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += I(gridDim.x) * I(blockDim.x)) {
    I off[2];
    offsets_of(l, i, off);
    out[i] = f(load_c(a[off[0]]), load_c(b[off[1]]));
  }
}

template <class W, class I>
__global__ void where_kernel(const uint8_t* __restrict__ cond, const W* __restrict__ a, const W* __restrict__ b,
                             W* __restrict__ out, RevLayout<I, 3> l, I n) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += I(gridDim.x) * I(blockDim.x)) {
    I off[3];
    offsets_of(l, i, off);
    out[i] = cond[off[0]] ? a[off[1]] : b[off[2]];
  }
}

// Wraps a functor so it returns what is stored: u8 for comparisons, T (rounded from C) otherwise.
template <class T, bool kCompare, class F>
struct StoreAs {
  F f;
  template <class C>
  __device__ __forceinline__ auto operator()(C a, C b) const {
    if constexpr (kCompare) return f(a, b);
    else return store_c<T>(f(a, b));
  }
};

template <bool kCompare, class T, class Out, class F>
void launch_binary_strided(const T* a, const T* b, Out* out, const BroadcastLayout& l, int64_t n, F f,
                           cudaStream_t s) {
  const int64_t* strides[2] = {l.a_strides, l.b_strides};
  StoreAs<T, kCompare, F> g{f};
  if (fits_u32(l.ndim, l.shape, strides, 2, n))
    binary_strided_kernel<T, Out, uint32_t><<<grid_for(n, kBlock), kBlock, 0, s>>>(
        a, b, out, reverse_layout<uint32_t, 2>(l.ndim, l.shape, strides), uint32_t(n), g);
  else
    binary_strided_kernel<T, Out, int64_t><<<grid_for(n, kBlock), kBlock, 0, s>>>(
        a, b, out, reverse_layout<int64_t, 2>(l.ndim, l.shape, strides), n, g);
  IQA_CUDA_CHECK_LAUNCH();
}

template <BinaryOp OP, class T>
void binary_op_typed(const void* a, const void* b, void* out, const BroadcastLayout& l, int64_t n, cudaStream_t s) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  if constexpr (is_comparison(OP)) {
    launch_binary_strided<true>(pa, pb, static_cast<uint8_t*>(out), l, n, CompareFn<OP>{}, s);
  } else {
    T* po = static_cast<T*>(out);
    bool a_flat = l.ndim == 1 && l.a_strides[0] == 1;
    if (a_flat && l.b_strides[0] == 1) launch_map2<T, false>(pa, pb, po, n, BinaryFn<OP>{}, s);
    else if (a_flat && l.b_strides[0] == 0) launch_map2<T, true>(pa, pb, po, n, BinaryFn<OP>{}, s);
    else launch_binary_strided<false>(pa, pb, po, l, n, BinaryFn<OP>{}, s);
  }
}

template <class T>
void binary_typed(BinaryOp op, const void* a, const void* b, void* out, const BroadcastLayout& l, int64_t n,
                  cudaStream_t s) {
  switch (op) {
    case BinaryOp::Add: binary_op_typed<BinaryOp::Add, T>(a, b, out, l, n, s); break;
    case BinaryOp::Sub: binary_op_typed<BinaryOp::Sub, T>(a, b, out, l, n, s); break;
    case BinaryOp::Mul: binary_op_typed<BinaryOp::Mul, T>(a, b, out, l, n, s); break;
    case BinaryOp::Div: binary_op_typed<BinaryOp::Div, T>(a, b, out, l, n, s); break;
    case BinaryOp::Max: binary_op_typed<BinaryOp::Max, T>(a, b, out, l, n, s); break;
    case BinaryOp::Min: binary_op_typed<BinaryOp::Min, T>(a, b, out, l, n, s); break;
    case BinaryOp::Gt: binary_op_typed<BinaryOp::Gt, T>(a, b, out, l, n, s); break;
    case BinaryOp::Lt: binary_op_typed<BinaryOp::Lt, T>(a, b, out, l, n, s); break;
    case BinaryOp::Eq: binary_op_typed<BinaryOp::Eq, T>(a, b, out, l, n, s); break;
  }
}

}  // namespace

void binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out, const BroadcastLayout& l, int64_t n,
            cudaStream_t s) {
  if (n == 0) return;
  switch (dtype) {
    case DType::F32: binary_typed<float>(op, a, b, out, l, n, s); break;
    case DType::BF16: binary_typed<__nv_bfloat16>(op, a, b, out, l, n, s); break;
    case DType::F16: binary_typed<__half>(op, a, b, out, l, n, s); break;
    case DType::I64: binary_typed<int64_t>(op, a, b, out, l, n, s); break;
    case DType::I32: binary_typed<int32_t>(op, a, b, out, l, n, s); break;
    case DType::U8: binary_typed<uint8_t>(op, a, b, out, l, n, s); break;
    default: fail(cat("CUDA binary op: unsupported dtype ", dtype_name(dtype)));
  }
}

void unary(UnaryOp op, DType dtype, const void* x, void* out, int64_t n, double p0, double p1, cudaStream_t s) {
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, with_unary_op(op, [&](auto tag) {
    UnaryForwardFn<decltype(tag)::value> f{float(p0), float(p1)};
    launch_map1(static_cast<const T*>(x), static_cast<T*>(out), n, f, s);
  }));
}

void unary_backward(UnaryOp op, DType dtype, const void* saved, const void* grad_out, void* grad_in, int64_t n,
                    double p0, double p1, cudaStream_t s) {
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, with_unary_op(op, [&](auto tag) {
    UnaryBackwardFn<decltype(tag)::value> f{float(p0), float(p1)};
    launch_map2<T, false>(static_cast<const T*>(saved), static_cast<const T*>(grad_out), static_cast<T*>(grad_in), n,
                          f, s);
  }));
}

void where(DType dtype, const uint8_t* cond, const void* a, const void* b, void* out, const WhereLayout& l, int64_t n,
           cudaStream_t s) {
  if (n == 0) return;
  const int64_t* strides[3] = {l.cond_strides, l.a_strides, l.b_strides};
  bool small = fits_u32(l.ndim, l.shape, strides, 3, n);
  auto run = [&](auto word) {
    using W = decltype(word);
    const W* pa = static_cast<const W*>(a);
    const W* pb = static_cast<const W*>(b);
    W* po = static_cast<W*>(out);
    if (small)
      where_kernel<W, uint32_t><<<grid_for(n, kBlock), kBlock, 0, s>>>(
          cond, pa, pb, po, reverse_layout<uint32_t, 3>(l.ndim, l.shape, strides), uint32_t(n));
    else
      where_kernel<W, int64_t><<<grid_for(n, kBlock), kBlock, 0, s>>>(
          cond, pa, pb, po, reverse_layout<int64_t, 3>(l.ndim, l.shape, strides), n);
    IQA_CUDA_CHECK_LAUNCH();
  };
  switch (dtype_size(dtype)) {  // where only moves bytes: one kernel per element size
    case 1: run(uint8_t{}); break;
    case 2: run(uint16_t{}); break;
    case 4: run(uint32_t{}); break;
    case 8: run(uint64_t{}); break;
    default: fail(cat("CUDA where: unsupported dtype ", dtype_name(dtype)));
  }
}

}  // namespace iqa::kernels::cuda
