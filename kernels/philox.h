// Philox-4x32-10 counter-based RNG (Salmon et al., SC'11). Pure function of (key, counter), so the
// CPU and the GPU produce the same numbers for the same seed and offset, in any order, on any thread.
//
// Element i of a tensor filled at generator offset `off` uses counter (off + i) and the first
// (uniform) or first two (normal, Box-Muller) words of the output. One counter per element wastes
// some bits but keeps the mapping trivially identical across backends.
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace iqa::philox {

struct U4 { uint32_t x, y, z, w; };

IQA_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

IQA_HD U4 philox4x32_10(uint64_t key64, uint64_t ctr64) {
  uint32_t k0 = uint32_t(key64), k1 = uint32_t(key64 >> 32);
  U4 c{uint32_t(ctr64), uint32_t(ctr64 >> 32), 0u, 0u};
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(0xD2511F53u, c.x, &hi0);
    uint32_t lo1 = mulhilo(0xCD9E8D57u, c.z, &hi1);
    c = U4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// Uniform in [0, 1): 24 random bits, exactly representable in float.
IQA_HD float to_unit_float(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
// Uniform in (0, 1]: safe for log().
IQA_HD float to_unit_float_open0(uint32_t x) { return (float(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }

IQA_HD float uniform(uint64_t seed, uint64_t counter) {
  return to_unit_float(philox4x32_10(seed, counter).x);
}

// Standard normal via Box-Muller on two words of the same counter. Computed in double so the CPU and
// GPU agree to the last float bit (both round a correctly-rounded double result of log/cos).
IQA_HD float normal(uint64_t seed, uint64_t counter) {
  U4 r = philox4x32_10(seed, counter);
  double u1 = double(to_unit_float_open0(r.x));
  double u2 = double(to_unit_float(r.y));
  // Qualified: an unqualified log() would find iqa::log (the Tensor op) where engine headers are seen.
  return float(::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586 * u2));
}

}  // namespace iqa::philox
