// The dtype switch behind load_as_double / store_from_double (one element of any dtype as double),
// written once for the host (kernels/cpu/scalar_io.h) and the device (kernels/cuda/dtype_io.cuh). The
// two differ only in how the 16-bit floats convert, which `Half` supplies from / to their stored bits:
// bf16_to_float, f16_to_float, float_to_bf16, float_to_f16.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

template <class Half>
IQA_HD double load_as_double_via(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F64: return static_cast<const double*>(p)[i];
    case DType::BF16: return Half::bf16_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::F16: return Half::f16_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::I32: return static_cast<const int32_t*>(p)[i];
    case DType::I64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::U8: return static_cast<const uint8_t*>(p)[i];
  }
  return 0;
}

template <class Half>
IQA_HD void store_from_double_via(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F32: static_cast<float*>(p)[i] = float(v); break;
    case DType::F64: static_cast<double*>(p)[i] = v; break;
    case DType::BF16: static_cast<uint16_t*>(p)[i] = Half::float_to_bf16(float(v)); break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = Half::float_to_f16(float(v)); break;
    case DType::I32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::I64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
    case DType::U8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
  }
}

}  // namespace iqa::kernels
