// CUDA row reductions over a contiguous [outer, inner] buffer: sum/mean/max/min and argmax.
// Floating types accumulate in f32 and store in the input dtype; i64 accumulates in i64.
//
// Short rows (inner <= 1024) get one warp each, so a [12608, 768] reduction keeps every SM busy
// with no shared memory or __syncthreads; long rows get one block each. When the row start and the
// row length allow it, loads are 16 bytes wide (8 bf16 per load), as in the elementwise kernels.
#include <cfloat>
#include <type_traits>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/reduce.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kWarp = 32;
constexpr int kWarpRowsMaxInner = 1024;

template <class T>
using Acc = std::conditional_t<std::is_same_v<T, int64_t>, int64_t, float>;

template <class T>
__device__ __forceinline__ Acc<T> load_acc(T v) {
  if constexpr (std::is_same_v<T, int64_t>) return v;
  else return to_f32<T>(v);
}
template <class T>
__device__ __forceinline__ T store_acc(Acc<T> v) {
  if constexpr (std::is_same_v<T, int64_t>) return v;
  else return from_f32<T>(v);
}

template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <ReduceOp OP, class A>
__device__ __forceinline__ A identity() {
  if constexpr (OP == ReduceOp::Sum || OP == ReduceOp::Mean) return A(0);
  else if constexpr (std::is_same_v<A, float>) return OP == ReduceOp::Max ? -INFINITY : INFINITY;
  else return OP == ReduceOp::Max ? INT64_MIN : INT64_MAX;
}

template <ReduceOp OP, class A>
__device__ __forceinline__ A combine(A x, A y) {
  if constexpr (OP == ReduceOp::Sum || OP == ReduceOp::Mean) return x + y;
  else if constexpr (OP == ReduceOp::Max) return y > x ? y : x;
  else return y < x ? y : x;
}

template <ReduceOp OP, class A>
__device__ __forceinline__ A warp_reduce(A v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v = combine<OP>(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// This thread's share of one row: elements tid, tid + nthreads, ... (in packs of N when kVec).
template <ReduceOp OP, class T, bool kVec>
__device__ __forceinline__ Acc<T> partial_of_row(const T* row, int64_t inner, int tid, int nthreads) {
  Acc<T> acc = identity<OP, Acc<T>>();
  if constexpr (kVec) {
    constexpr int N = 16 / sizeof(T);
    using P = Pack<T, N>;
    const P* p = reinterpret_cast<const P*>(row);
    for (int64_t v = tid; v < inner / N; v += nthreads) {
      P pk = p[v];
#pragma unroll
      for (int k = 0; k < N; ++k) acc = combine<OP>(acc, load_acc(pk.v[k]));
    }
  } else {
    for (int64_t i = tid; i < inner; i += nthreads) acc = combine<OP>(acc, load_acc(row[i]));
  }
  return acc;
}

template <ReduceOp OP, class T>
__device__ __forceinline__ T finish(Acc<T> acc, int64_t inner) {
  if constexpr (OP == ReduceOp::Mean) return store_acc<T>(acc / Acc<T>(inner));
  else return store_acc<T>(acc);
}

template <ReduceOp OP, class T, bool kVec>
__global__ void reduce_rows_warp_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t outer, int64_t inner) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / kWarp;
  // The row loop is warp-uniform, so every lane reaches the shuffles.
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp; row < outer; row += warps) {
    Acc<T> acc = warp_reduce<OP>(partial_of_row<OP, T, kVec>(x + row * inner, inner, lane, kWarp));
    if (lane == 0) out[row] = finish<OP, T>(acc, inner);
  }
}

template <ReduceOp OP, class T, bool kVec>
__global__ void reduce_rows_block_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t outer,
                                         int64_t inner) {
  __shared__ Acc<T> warp_partials[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, nwarps = blockDim.x / kWarp;
  for (int64_t row = blockIdx.x; row < outer; row += gridDim.x) {  // block-uniform loop
    Acc<T> acc = warp_reduce<OP>(partial_of_row<OP, T, kVec>(x + row * inner, inner, threadIdx.x, blockDim.x));
    if (lane == 0) warp_partials[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < nwarps ? warp_partials[lane] : identity<OP, Acc<T>>();
      acc = warp_reduce<OP>(acc);
      if (lane == 0) out[row] = finish<OP, T>(acc, inner);
    }
    __syncthreads();  // warp_partials is reused by the next row
  }
}

// ---- argmax: (value, index) pairs; the larger value wins, ties go to the smaller index ----
template <class A>
struct ArgBest {
  A value;
  int64_t index;
};
template <class A>
__device__ __forceinline__ ArgBest<A> better(ArgBest<A> a, ArgBest<A> b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}
template <class A>
__device__ __forceinline__ ArgBest<A> warp_argbest(ArgBest<A> v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) {
    ArgBest<A> other{__shfl_xor_sync(0xffffffffu, v.value, o), __shfl_xor_sync(0xffffffffu, v.index, o)};
    v = better(v, other);
  }
  return v;
}
template <class T>
__device__ __forceinline__ ArgBest<Acc<T>> row_argbest(const T* row, int64_t inner, int tid, int nthreads) {
  ArgBest<Acc<T>> best{identity<ReduceOp::Max, Acc<T>>(), INT64_MAX};
  for (int64_t i = tid; i < inner; i += nthreads) best = better(best, ArgBest<Acc<T>>{load_acc(row[i]), i});
  return best;
}

template <class T>
__global__ void argmax_rows_warp_kernel(const T* __restrict__ x, int64_t* __restrict__ out, int64_t outer,
                                        int64_t inner) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / kWarp;
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp; row < outer; row += warps) {
    ArgBest<Acc<T>> best = warp_argbest(row_argbest(x + row * inner, inner, lane, kWarp));
    // Every real element beats the identity (equal value, smaller index); only an empty row keeps it.
    if (lane == 0) out[row] = best.index == INT64_MAX ? 0 : best.index;
  }
}

template <class T>
__global__ void argmax_rows_block_kernel(const T* __restrict__ x, int64_t* __restrict__ out, int64_t outer,
                                         int64_t inner) {
  __shared__ Acc<T> values[kWarp];
  __shared__ int64_t indices[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, nwarps = blockDim.x / kWarp;
  for (int64_t row = blockIdx.x; row < outer; row += gridDim.x) {
    ArgBest<Acc<T>> best = warp_argbest(row_argbest(x + row * inner, inner, threadIdx.x, blockDim.x));
    if (lane == 0) {
      values[warp] = best.value;
      indices[warp] = best.index;
    }
    __syncthreads();
    if (warp == 0) {
      best = lane < nwarps ? ArgBest<Acc<T>>{values[lane], indices[lane]}
                           : ArgBest<Acc<T>>{identity<ReduceOp::Max, Acc<T>>(), INT64_MAX};
      best = warp_argbest(best);
      if (lane == 0) out[row] = best.index == INT64_MAX ? 0 : best.index;
    }
    __syncthreads();
  }
}

// Rows per launch geometry: warps of a 256-thread block for short rows, a block per long row
// (1024 threads when there are few rows, so a full reduction still has many loads in flight).
struct RowLaunch {
  bool per_warp;
  unsigned grid, block;
};
RowLaunch plan_rows(int64_t outer, int64_t inner) {
  if (inner <= kWarpRowsMaxInner) return {true, grid_for(outer * kWarp, 256), 256};
  unsigned block = outer < 256 ? 1024 : 256;
  return {false, unsigned(outer < (1 << 20) ? outer : (1 << 20)), block};
}

template <ReduceOp OP, class T, bool kVec>
void launch_reduce(const T* x, T* out, int64_t outer, int64_t inner, cudaStream_t s) {
  RowLaunch r = plan_rows(outer, inner);
  if (r.per_warp) reduce_rows_warp_kernel<OP, T, kVec><<<r.grid, r.block, 0, s>>>(x, out, outer, inner);
  else reduce_rows_block_kernel<OP, T, kVec><<<r.grid, r.block, 0, s>>>(x, out, outer, inner);
  IQA_CUDA_CHECK_LAUNCH();
}

template <ReduceOp OP, class T>
void reduce_typed(const void* x, void* out, int64_t outer, int64_t inner, cudaStream_t s) {
  const T* px = static_cast<const T*>(x);
  // 16-byte loads need every row start aligned: base aligned and a row length of whole packs.
  bool vec = (reinterpret_cast<uintptr_t>(x) & 15u) == 0 && (inner * int64_t(sizeof(T))) % 16 == 0;
  if (vec) launch_reduce<OP, T, true>(px, static_cast<T*>(out), outer, inner, s);
  else launch_reduce<OP, T, false>(px, static_cast<T*>(out), outer, inner, s);
}

template <class T>
void reduce_dispatch_op(ReduceOp op, const void* x, void* out, int64_t outer, int64_t inner, cudaStream_t s) {
  switch (op) {
    case ReduceOp::Sum: reduce_typed<ReduceOp::Sum, T>(x, out, outer, inner, s); break;
    case ReduceOp::Mean: reduce_typed<ReduceOp::Mean, T>(x, out, outer, inner, s); break;
    case ReduceOp::Max: reduce_typed<ReduceOp::Max, T>(x, out, outer, inner, s); break;
    case ReduceOp::Min: reduce_typed<ReduceOp::Min, T>(x, out, outer, inner, s); break;
  }
}

template <class T>
void argmax_typed(const void* x, int64_t* out, int64_t outer, int64_t inner, cudaStream_t s) {
  const T* px = static_cast<const T*>(x);
  RowLaunch r = plan_rows(outer, inner);
  if (r.per_warp) argmax_rows_warp_kernel<T><<<r.grid, r.block, 0, s>>>(px, out, outer, inner);
  else argmax_rows_block_kernel<T><<<r.grid, r.block, 0, s>>>(px, out, outer, inner);
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void reduce_rows(ReduceOp op, DType dtype, const void* x, void* out, int64_t outer, int64_t inner,
                 cudaStream_t s) {
  if (outer == 0) return;
  switch (dtype) {
    case DType::F32: reduce_dispatch_op<float>(op, x, out, outer, inner, s); break;
    case DType::BF16: reduce_dispatch_op<__nv_bfloat16>(op, x, out, outer, inner, s); break;
    case DType::F16: reduce_dispatch_op<__half>(op, x, out, outer, inner, s); break;
    case DType::I64: reduce_dispatch_op<int64_t>(op, x, out, outer, inner, s); break;
    default: fail(cat("CUDA reduce: unsupported dtype ", dtype_name(dtype)));
  }
}

void argmax_rows(DType dtype, const void* x, int64_t* out, int64_t outer, int64_t inner, cudaStream_t s) {
  if (outer == 0) return;
  switch (dtype) {
    case DType::F32: argmax_typed<float>(x, out, outer, inner, s); break;
    case DType::BF16: argmax_typed<__nv_bfloat16>(x, out, outer, inner, s); break;
    case DType::F16: argmax_typed<__half>(x, out, outer, inner, s); break;
    case DType::I64: argmax_typed<int64_t>(x, out, outer, inner, s); break;
    default: fail(cat("CUDA argmax: unsupported dtype ", dtype_name(dtype)));
  }
}

}  // namespace iqa::kernels::cuda
