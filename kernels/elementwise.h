// Elementwise kernels: binary ops with broadcasting (strided inputs, contiguous output) and unary
// ops on contiguous buffers, forward and backward.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Max, Min, Gt, Lt, Eq };

// Output is contiguous with `shape`; a and b are read through their own strides (0 = broadcast).
struct BroadcastLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t a_strides[kMaxDims] = {};
  int64_t b_strides[kMaxDims] = {};
};

namespace cpu {
// a, b and out share `dtype` (f32 or f64), except comparisons whose out is u8.
void binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out, const BroadcastLayout& layout,
            int64_t n);
}  // namespace cpu

namespace cuda {
void binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out, const BroadcastLayout& layout,
            int64_t n, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
