// The kernels every Tensor needs: strided copy with dtype conversion, fill, arange, Philox fills.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

// Geometry of a strided view, dims already coalesced where possible. Strides are in elements.
struct StridedLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

// Storage offset (in elements) of logical element `linear` of a strided layout (CPU and CUDA alike).
IQA_HD int64_t strided_offset(const StridedLayout& l, int64_t linear) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    const int64_t idx = linear % l.shape[d];
    linear /= l.shape[d];
    off += idx * l.strides[d];
  }
  return off;
}

// Whether the layout is row-major contiguous (size-1 dims may carry any stride).
inline bool is_contiguous(const StridedLayout& l) {
  int64_t expect = 1;
  for (int d = l.ndim - 1; d >= 0; --d) {
    if (l.shape[d] != 1 && l.strides[d] != expect) return false;
    expect *= l.shape[d];
  }
  return true;
}

namespace cpu {
// dst at logical index i = convert(src at logical index i); both layouts describe n elements in the
// same logical (row-major) order.
void copy_cast(const void* src, DType src_dtype, const StridedLayout& src_layout, void* dst, DType dst_dtype,
               const StridedLayout& dst_layout, int64_t n);
void fill(void* dst, DType dtype, int64_t n, double value);
void arange(void* dst, DType dtype, int64_t n, double start, double step);
void fill_uniform(void* dst, DType dtype, int64_t n, uint64_t seed, uint64_t offset);
void fill_normal(void* dst, DType dtype, int64_t n, uint64_t seed, uint64_t offset);
}  // namespace cpu

namespace cuda {
void copy_cast(const void* src, DType src_dtype, const StridedLayout& src_layout, void* dst, DType dst_dtype,
               const StridedLayout& dst_layout, int64_t n, cudaStream_t stream);
void fill(void* dst, DType dtype, int64_t n, double value, cudaStream_t stream);
void arange(void* dst, DType dtype, int64_t n, double start, double step, cudaStream_t stream);
void fill_uniform(void* dst, DType dtype, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream);
void fill_normal(void* dst, DType dtype, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
