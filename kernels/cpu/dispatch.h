// Type dispatch and the row loop shared by the CPU reference kernels.
#pragma once
#include <type_traits>

#include "kernels/common.h"
#include "kernels/error.h"

namespace iqa::kernels::cpu {

// Calls f(T{}) with T the C++ type of a CPU floating dtype (the CPU backend computes in f32/f64).
template <class F>
void with_cpu_float(DType dtype, const char* op, F&& f) {
  if (dtype == DType::F32) f(float{});
  else if (dtype == DType::F64) f(double{});
  else fail(cat(op, ": the CPU backend computes in f32/f64, got ", dtype_name(dtype)));
}

// The typed view of a type-erased buffer inside with_cpu_float's callback: typed(tag, p), constness kept.
template <class T>
const T* typed(T, const void* p) {
  return static_cast<const T*>(p);
}
template <class T>
T* typed(T, void* p) {
  return static_cast<T*>(p);
}

// with_cpu_float for kernels over type-erased buffers: calls f(typed(tag, buffers)...), each buffer
// as const T* or T*, so a kernel casts nothing itself; it names T as elem_t<decltype(any buffer)>.
template <class F, class... Buffers>
void with_cpu_float_buffers(DType dtype, const char* op, F&& f, Buffers... buffers) {
  with_cpu_float(dtype, op, [&](auto tag) { f(typed(tag, buffers)...); });
}
template <class Ptr>
using elem_t = std::remove_const_t<std::remove_pointer_t<Ptr>>;

// f(r) for each of `rows` independent rows of `cols` elements, the rows spread over OpenMP threads once
// there are more than `min_parallel` elements (below that the threads cost more than they save).
template <class F>
void for_each_row(int64_t rows, int64_t cols, int64_t min_parallel, F&& f) {
#pragma omp parallel for if (rows * cols > min_parallel)
  for (int64_t r = 0; r < rows; ++r) f(r);
}

}  // namespace iqa::kernels::cpu
