// Load/store one element of any dtype as double on the CPU. For the generic (slow-path) kernels;
// hot loops are templated on the real type instead.
#pragma once
#include "kernels/common.h"

namespace iqa::kernels::cpu {

inline double load_as_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F64: return static_cast<const double*>(p)[i];
    case DType::BF16: return bf16_bits_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::F16: return f16_bits_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::I32: return static_cast<const int32_t*>(p)[i];
    case DType::I64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::U8: return static_cast<const uint8_t*>(p)[i];
  }
  return 0;
}

inline void store_from_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F32: static_cast<float*>(p)[i] = float(v); break;
    case DType::F64: static_cast<double*>(p)[i] = v; break;
    case DType::BF16: static_cast<uint16_t*>(p)[i] = float_to_bf16_bits(float(v)); break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = float_to_f16_bits(float(v)); break;
    case DType::I32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::I64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
    case DType::U8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
  }
}

}  // namespace iqa::kernels::cpu
