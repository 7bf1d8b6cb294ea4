// Type dispatch shared by the CPU reference kernels.
#pragma once
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

}  // namespace iqa::kernels::cpu
