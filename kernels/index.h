// Indexing kernels: index_select / index_add along one dim, gather / scatter_add (torch semantics),
// and the bounds check both share. Indices are i64 or i32; every buffer is contiguous.
//
// index_select views x as [outer, src_size, inner] and writes out [outer, n_index, inner] with
// out[o, i, k] = x[o, index[i], k]; index_add is its adjoint (dst[o, index[i], k] += src[o, i, k]).
#pragma once
#include <string>

#include "kernels/common.h"

namespace iqa::kernels {

// Range checks on CUDA without a host sync (issue 16): the select/gather kernels test every index they
// read against the size of the indexed dim. An index outside it reads nothing (its output element is
// zero; the adjoints add nothing for it) and the first one seen is recorded in a fault record per
// device. The engine reads the record at its next synchronising copy to the host (engine/cuda/
// runtime.cpp: every item() and to(kCPU)) and throws there, naming the op; with IQA_CUDA_SYNC_CHECK=1
// the engine checks at the op itself (a sync per op, for debugging). The CPU checks before it reads.
enum class IndexOp : int32_t { None = -1, IndexSelect = 0, Gather = 1 };
struct IndexFault {
  IndexOp op = IndexOp::None;
  int32_t dim = 0;
  int64_t position = 0, value = 0, limit = 0;
};
// "gather: index 7 (at position 3) is out of range for dim 1 of size 5 (found on the device, reported at the next synchronisation; IQA_CUDA_SYNC_CHECK=1 reports it at the op)".
std::string index_fault_message(const IndexFault& f);

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
  int64_t src_size = 0;              // x's size in `dim`: indices must lie in [0, src_size)
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
// Only for IQA_CUDA_SYNC_CHECK=1: the kernels below check on their own.
int64_t find_bad_index(const void* index, DType index_dtype, int64_t n, int64_t limit, int64_t* scratch,
                       cudaStream_t stream);
// The selects copy elements of any dtype; an index outside the source is recorded as a fault of
// dimension `dim` (reported in its message) and yields zeros.
void index_select(DType dtype, const IndexSelectGeometry& g, const void* x, const void* index, DType index_dtype,
                  void* out, int dim, cudaStream_t stream);
void gather(DType dtype, const GatherLayout& l, const void* x, const void* index, DType index_dtype, void* out,
            int64_t n, cudaStream_t stream);
// Copies this device's fault record into *host after the work queued on `stream` (the caller's
// synchronisation makes it valid), and clears it.
void read_index_fault(IndexFault* host, cudaStream_t stream);
void clear_index_fault(cudaStream_t stream);
// The adjoints read f32/bf16/f16 gradients and accumulate with f32 atomicAdd into an f32 `dst` (the
// caller casts to bf16/f16 after), so repeated indices sum in an unspecified order: results may
// differ in the last f32 bits from run to run.
void index_add(DType src_dtype, const IndexSelectGeometry& g, const void* src, const void* index, DType index_dtype,
               float* dst, cudaStream_t stream);
void scatter_add(DType src_dtype, const GatherLayout& l, const void* src, const void* index, DType index_dtype,
                 float* dst, int64_t n, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
