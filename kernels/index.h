// Indexing kernels: index_select / index_add along one dim, gather / scatter_add (torch semantics),
// and the bounds check both share. Indices are i64 or i32; every buffer is contiguous.
//
// index_select views x as [outer, src_size, inner] and writes out [outer, n_index, inner] with
// out[o, i, k] = x[o, index[i], k]; index_add is its adjoint (dst[o, index[i], k] += src[o, i, k]).
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

struct IndexSelectGeometry {
  int64_t outer = 1, src_size = 0, n_index = 0, inner = 1;
};

// gather: out has the index's shape; for out position p with coordinates (c_0..c_{ndim-1}) in
// index_shape, out[p] = x[sum_{d != dim} c_d x_strides[d] + index[p] x_strides[dim]].
struct GatherLayout {
  int ndim = 0;
  int dim = 0;
  int64_t index_shape[kMaxDims] = {};
  int64_t x_strides[kMaxDims] = {};  // contiguous strides of x (which may be larger than index off `dim`)
};

// Element i of an i32 or i64 index buffer (CPU and CUDA kernels alike).
IQA_HD int64_t index_at(const void* index, DType t, int64_t i) {
  return t == DType::I64 ? static_cast<const int64_t*>(index)[i] : int64_t(static_cast<const int32_t*>(index)[i]);
}

// Offset in x (or dst) of gather position p, whose index value is `idx`.
IQA_HD int64_t gather_offset(const GatherLayout& l, int64_t p, int64_t idx) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    const int64_t coord = p % l.index_shape[d];
    p /= l.index_shape[d];
    off += (d == l.dim ? idx : coord) * l.x_strides[d];
  }
  return off;
}

namespace cpu {
// Position of the first index outside [0, limit), or -1 when all are valid.
int64_t find_bad_index(const void* index, DType index_dtype, int64_t n, int64_t limit);
// The selects copy elements of any dtype; the adjoints add in f32 or f64.
void index_select(DType dtype, const IndexSelectGeometry& g, const void* x, const void* index, DType index_dtype,
                  void* out);
void index_add(DType dtype, const IndexSelectGeometry& g, const void* src, const void* index, DType index_dtype,
               void* dst);
void gather(DType dtype, const GatherLayout& l, const void* x, const void* index, DType index_dtype, void* out,
            int64_t n);
void scatter_add(DType dtype, const GatherLayout& l, const void* src, const void* index, DType index_dtype, void* dst,
                 int64_t n);
}  // namespace cpu

namespace cuda {
// Runs the check on the device and copies back one i64 (a stream sync); `scratch` is one device i64.
int64_t find_bad_index(const void* index, DType index_dtype, int64_t n, int64_t limit, int64_t* scratch,
                       cudaStream_t stream);
// The selects copy elements of any dtype.
void index_select(DType dtype, const IndexSelectGeometry& g, const void* x, const void* index, DType index_dtype,
                  void* out, cudaStream_t stream);
void gather(DType dtype, const GatherLayout& l, const void* x, const void* index, DType index_dtype, void* out,
            int64_t n, cudaStream_t stream);
// The adjoints read f32/bf16/f16 gradients and accumulate with f32 atomicAdd into an f32 `dst` (the
// caller casts to bf16/f16 after), so repeated indices sum in an unspecified order: results may
// differ in the last f32 bits from run to run.
void index_add(DType src_dtype, const IndexSelectGeometry& g, const void* src, const void* index, DType index_dtype,
               float* dst, cudaStream_t stream);
void scatter_add(DType src_dtype, const GatherLayout& l, const void* src, const void* index, DType index_dtype,
                 float* dst, int64_t n, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
