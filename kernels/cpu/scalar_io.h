// Load/store one element of any dtype as double on the CPU. For the generic (slow-path) kernels;
// hot loops are templated on the real type instead.
#pragma once
#include "kernels/scalar_switch.h"

namespace iqa::kernels::cpu {

// The host's 16-bit float conversions (kernels/common.h), bit-exact with the device's.
struct HostHalf {
  static float bf16_to_float(uint16_t b) { return bf16_bits_to_float(b); }
  static float f16_to_float(uint16_t h) { return f16_bits_to_float(h); }
  static uint16_t float_to_bf16(float f) { return float_to_bf16_bits(f); }
  static uint16_t float_to_f16(float f) { return float_to_f16_bits(f); }
};

inline double load_as_double(const void* p, DType t, int64_t i) { return load_as_double_via<HostHalf>(p, t, i); }
inline void store_from_double(void* p, DType t, int64_t i, double v) { store_from_double_via<HostHalf>(p, t, i, v); }

}  // namespace iqa::kernels::cpu
