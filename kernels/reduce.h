// Row reductions: the input is viewed as [outer, inner] contiguous and reduced over `inner`.
// The engine permutes reduced dims last and makes the tensor contiguous before calling these.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

enum class ReduceOp : uint8_t { Sum, Mean, Max, Min };

namespace cpu {
// out[o] = reduce(x[o, 0..inner)); f32 accumulates in f64 for Sum/Mean (stable reference).
void reduce_rows(ReduceOp op, DType dtype, const void* x, void* out, int64_t outer, int64_t inner);
// argmax over rows: index of the first maximal element (i64 out).
void argmax_rows(DType dtype, const void* x, int64_t* out, int64_t outer, int64_t inner);
}  // namespace cpu

namespace cuda {
void reduce_rows(ReduceOp op, DType dtype, const void* x, void* out, int64_t outer, int64_t inner,
                 cudaStream_t stream);
void argmax_rows(DType dtype, const void* x, int64_t* out, int64_t outer, int64_t inner, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
