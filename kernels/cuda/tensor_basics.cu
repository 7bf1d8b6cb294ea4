#include "kernels/cuda/dtype_io.cuh"
#include "kernels/philox.h"
#include "kernels/tensor_basics.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

__global__ void copy_cast_kernel(const void* src, DType st, StridedLayout sl, void* dst, DType dt, StridedLayout dl,
                                 int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store_from_double(dst, dt, strided_offset(dl, i), load_as_double(src, st, strided_offset(sl, i)));
}

// Same dtype: moves element-sized words, exact for every dtype (the double round trip above loses
// i64 values past 2^53). A contiguous destination skips its index math.
template <class W>
__global__ void copy_same_kernel(const W* src, StridedLayout sl, W* dst, StridedLayout dl, bool dst_contiguous,
                                 int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[dst_contiguous ? i : strided_offset(dl, i)] = src[strided_offset(sl, i)];
}

__global__ void fill_kernel(void* dst, DType t, int64_t n, double v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store_from_double(dst, t, i, v);
}

__global__ void arange_kernel(void* dst, DType t, int64_t n, double start, double step) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store_from_double(dst, t, i, start + double(i) * step);
}

__global__ void philox_kernel(void* dst, DType t, int64_t n, uint64_t seed, uint64_t offset, bool normal) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = normal ? philox::normal(seed, offset + uint64_t(i)) : philox::uniform(seed, offset + uint64_t(i));
    store_from_double(dst, t, i, v);
  }
}

}  // namespace

void copy_cast(const void* src, DType st, const StridedLayout& sl, void* dst, DType dt, const StridedLayout& dl,
               int64_t n, cudaStream_t s) {
  if (n == 0) return;
  if (st == dt && is_contiguous(sl) && is_contiguous(dl)) {
    IQA_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * dtype_size(dt), cudaMemcpyDeviceToDevice, s));
    return;
  }
  if (st == dt) {
    bool dc = is_contiguous(dl);
    unsigned grid = grid_for(n, 256);
    switch (dtype_size(st)) {
      case 1: copy_same_kernel<<<grid, 256, 0, s>>>(static_cast<const uint8_t*>(src), sl, static_cast<uint8_t*>(dst), dl, dc, n); break;
      case 2: copy_same_kernel<<<grid, 256, 0, s>>>(static_cast<const uint16_t*>(src), sl, static_cast<uint16_t*>(dst), dl, dc, n); break;
      case 4: copy_same_kernel<<<grid, 256, 0, s>>>(static_cast<const uint32_t*>(src), sl, static_cast<uint32_t*>(dst), dl, dc, n); break;
      default: copy_same_kernel<<<grid, 256, 0, s>>>(static_cast<const uint64_t*>(src), sl, static_cast<uint64_t*>(dst), dl, dc, n); break;
    }
  } else {
    copy_cast_kernel<<<grid_for(n, 256), 256, 0, s>>>(src, st, sl, dst, dt, dl, n);
  }
  IQA_CUDA_CHECK_LAUNCH();
}

void fill(void* dst, DType t, int64_t n, double v, cudaStream_t s) {
  if (n == 0) return;
  fill_kernel<<<grid_for(n, 256), 256, 0, s>>>(dst, t, n, v);
  IQA_CUDA_CHECK_LAUNCH();
}

void arange(void* dst, DType t, int64_t n, double start, double step, cudaStream_t s) {
  if (n == 0) return;
  arange_kernel<<<grid_for(n, 256), 256, 0, s>>>(dst, t, n, start, step);
  IQA_CUDA_CHECK_LAUNCH();
}

void fill_uniform(void* dst, DType t, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s) {
  if (n == 0) return;
  philox_kernel<<<grid_for(n, 256), 256, 0, s>>>(dst, t, n, seed, offset, false);
  IQA_CUDA_CHECK_LAUNCH();
}

void fill_normal(void* dst, DType t, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s) {
  if (n == 0) return;
  philox_kernel<<<grid_for(n, 256), 256, 0, s>>>(dst, t, n, seed, offset, true);
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace iqa::kernels::cuda
