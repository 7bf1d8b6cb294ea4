// CUDA indexing kernels: one thread per output element for the selects; the adjoints scatter with f32
// atomicAdd (sm_80+ has native f32 atomics on global memory; bf16/f16 gradients are accumulated in an
// f32 buffer by the caller and cast once, so no low-precision partial sums are formed).
#include <climits>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/index.h"

// The selects only move bits: dispatch on the element's width, so every dtype is served.
#define IQA_DISPATCH_ELEMENT_BITS(dtype, T, ...)                   \
  switch (::iqa::dtype_size(dtype)) {                              \
    case 1: { using T = uint8_t; __VA_ARGS__; break; }             \
    case 2: { using T = uint16_t; __VA_ARGS__; break; }            \
    case 4: { using T = uint32_t; __VA_ARGS__; break; }            \
    default: { using T = unsigned long long; __VA_ARGS__; break; } \
  }

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kBlock = 256;

// The fault record (kernels/index.h) of this device and the flag its first writer claims.
__device__ IndexFault g_index_fault = {IndexOp::None, 0, 0, 0, 0};
__device__ int g_index_fault_claimed = 0;

__device__ void record_index_fault(IndexOp op, int dim, int64_t position, int64_t value, int64_t limit) {
  if (atomicCAS(&g_index_fault_claimed, 0, 1) != 0) return;
  g_index_fault.dim = dim;
  g_index_fault.position = position;
  g_index_fault.value = value;
  g_index_fault.limit = limit;
  g_index_fault.op = op;
}

__global__ void find_bad_index_kernel(const void* index, DType t, int64_t n, int64_t limit,
                                      unsigned long long* first_bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t v = index_at(index, t, i);
    if (v < 0 || v >= limit) atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
}

template <class T>
__global__ void index_select_kernel(IndexSelectGeometry g, const T* x, const void* index, DType it, T* out,
                                    int dim, int64_t total) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    int64_t k = p % g.inner, i = (p / g.inner) % g.n_index, o = p / (g.inner * g.n_index);
    const int64_t v = index_at(index, it, i);
    if (v < 0 || v >= g.src_size) {
      if (o == 0 && k == 0) record_index_fault(IndexOp::IndexSelect, dim, i, v, g.src_size);
      out[p] = T(0);
      continue;
    }
    out[p] = x[(o * g.src_size + v) * g.inner + k];
  }
}

template <class T>
__global__ void index_add_kernel(IndexSelectGeometry g, const T* src, const void* index, DType it, float* dst,
                                 int64_t total) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    int64_t k = p % g.inner, i = (p / g.inner) % g.n_index, o = p / (g.inner * g.n_index);
    const int64_t v = index_at(index, it, i);
    if (v >= 0 && v < g.src_size) atomicAdd(dst + (o * g.src_size + v) * g.inner + k, to_f32(src[p]));
  }
}

template <class T>
__global__ void gather_kernel(GatherLayout l, const T* x, const void* index, DType it, T* out, int64_t n) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < n; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = index_at(index, it, p);
    if (v < 0 || v >= l.src_size) {
      record_index_fault(IndexOp::Gather, l.dim, p, v, l.src_size);
      out[p] = T(0);
      continue;
    }
    out[p] = x[gather_offset(l, p, v)];
  }
}

template <class T>
__global__ void scatter_add_kernel(GatherLayout l, const T* src, const void* index, DType it, float* dst, int64_t n) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < n; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = index_at(index, it, p);
    if (v >= 0 && v < l.src_size) atomicAdd(dst + gather_offset(l, p, v), to_f32(src[p]));
  }
}

void check_index_dtype(DType t) {
  IQA_CHECK(t == DType::I64 || t == DType::I32, "index must be i64 or i32, got ", dtype_name(t));
}

}  // namespace

int64_t find_bad_index(const void* index, DType index_dtype, int64_t n, int64_t limit, int64_t* scratch,
                       cudaStream_t stream) {
  check_index_dtype(index_dtype);
  if (n == 0) return -1;
  auto* first_bad = reinterpret_cast<unsigned long long*>(scratch);
  IQA_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(unsigned long long), stream));  // "none yet" = max
  find_bad_index_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(index, index_dtype, n, limit, first_bad);
  IQA_CUDA_CHECK_LAUNCH();
  unsigned long long host = 0;
  IQA_CUDA_CHECK(cudaMemcpyAsync(&host, first_bad, sizeof(host), cudaMemcpyDeviceToHost, stream));
  IQA_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host == ULLONG_MAX ? -1 : static_cast<int64_t>(host);
}

void index_select(DType dtype, const IndexSelectGeometry& g, const void* x, const void* index, DType index_dtype,
                  void* out, int dim, cudaStream_t stream) {
  check_index_dtype(index_dtype);
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_ELEMENT_BITS, dtype, index_select_kernel, g.outer * g.n_index * g.inner, stream,
                         g, static_cast<const T*>(x), index, index_dtype, static_cast<T*>(out), dim);
}

void index_add(DType src_dtype, const IndexSelectGeometry& g, const void* src, const void* index, DType index_dtype,
               float* dst, cudaStream_t stream) {
  check_index_dtype(index_dtype);
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, src_dtype, index_add_kernel, g.outer * g.n_index * g.inner, stream,
                         g, static_cast<const T*>(src), index, index_dtype, dst);
}

void gather(DType dtype, const GatherLayout& l, const void* x, const void* index, DType index_dtype, void* out,
            int64_t n, cudaStream_t stream) {
  check_index_dtype(index_dtype);
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_ELEMENT_BITS, dtype, gather_kernel, n, stream,
                         l, static_cast<const T*>(x), index, index_dtype, static_cast<T*>(out));
}

void scatter_add(DType src_dtype, const GatherLayout& l, const void* src, const void* index, DType index_dtype,
                 float* dst, int64_t n, cudaStream_t stream) {
  check_index_dtype(index_dtype);
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, src_dtype, scatter_add_kernel, n, stream,
                         l, static_cast<const T*>(src), index, index_dtype, dst);
}

void read_index_fault(IndexFault* host, cudaStream_t stream) {
  // Into ordinary host memory: the copy is done when this returns (after the stream's earlier work).
  IQA_CUDA_CHECK(cudaMemcpyFromSymbolAsync(host, g_index_fault, sizeof(IndexFault), 0, cudaMemcpyDeviceToHost, stream));
  IQA_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (host->op != IndexOp::None) clear_index_fault(stream);
}

void clear_index_fault(cudaStream_t stream) {
  static const IndexFault kNone{};
  static const int kUnclaimed = 0;
  IQA_CUDA_CHECK(cudaMemcpyToSymbolAsync(g_index_fault, &kNone, sizeof kNone, 0, cudaMemcpyHostToDevice, stream));
  IQA_CUDA_CHECK(cudaMemcpyToSymbolAsync(g_index_fault_claimed, &kUnclaimed, sizeof kUnclaimed, 0,
                                         cudaMemcpyHostToDevice, stream));
  IQA_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace iqa::kernels::cuda
