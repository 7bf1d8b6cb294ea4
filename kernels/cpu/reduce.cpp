#include "kernels/reduce.h"

#include <limits>

#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"

namespace iqa::kernels::cpu {

namespace {
template <class T>
void reduce_typed(ReduceOp op, const T* x, T* out, int64_t outer, int64_t inner) {
  for_each_row(outer, inner, 65536, [&](int64_t o) {
    const T* row = x + o * inner;
    if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
      double acc = 0;  // f64 accumulation: the reference must not drift on long rows
      for (int64_t i = 0; i < inner; ++i) acc += double(row[i]);
      out[o] = T(op == ReduceOp::Mean ? acc / double(inner) : acc);
    } else {
      T best = inner > 0 ? row[0] : T(0);
      for (int64_t i = 1; i < inner; ++i) best = op == ReduceOp::Max ? (row[i] > best ? row[i] : best)
                                                                     : (row[i] < best ? row[i] : best);
      out[o] = best;
    }
  });
}
template <class T>
void argmax_typed(const T* x, int64_t* out, int64_t outer, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * inner;
    int64_t bi = 0;
    for (int64_t i = 1; i < inner; ++i)
      if (row[i] > row[bi]) bi = i;
    out[o] = bi;
  }
}
}  // namespace

void reduce_rows(ReduceOp op, DType dtype, const void* x, void* out, int64_t outer, int64_t inner) {
  switch (dtype) {
    case DType::F32: reduce_typed(op, static_cast<const float*>(x), static_cast<float*>(out), outer, inner); break;
    case DType::F64: reduce_typed(op, static_cast<const double*>(x), static_cast<double*>(out), outer, inner); break;
    case DType::I64: reduce_typed(op, static_cast<const int64_t*>(x), static_cast<int64_t*>(out), outer, inner); break;
    default: fail(cat("CPU reduce: unsupported dtype ", dtype_name(dtype)));
  }
}

void argmax_rows(DType dtype, const void* x, int64_t* out, int64_t outer, int64_t inner) {
  switch (dtype) {
    case DType::F32: argmax_typed(static_cast<const float*>(x), out, outer, inner); break;
    case DType::F64: argmax_typed(static_cast<const double*>(x), out, outer, inner); break;
    case DType::I64: argmax_typed(static_cast<const int64_t*>(x), out, outer, inner); break;
    default: fail(cat("CPU argmax: unsupported dtype ", dtype_name(dtype)));
  }
}

}  // namespace iqa::kernels::cpu
