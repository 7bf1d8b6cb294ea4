// AVX2 kernels for the two passes of the PIL-exact resize (training/image/augment_resize.cpp). They compute
// the same 32-bit integer sums as the scalar passes, in the same fixed-point format, so the bytes are
// identical; only the order of independent products within a sum differs, and integer addition is
// exact. Compiled for AVX2 through function attributes and chosen at run time (have_avx2()), so the
// library still runs on any x86-64 and builds elsewhere (where have_avx2() is false).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/views.h"

namespace iqa::resize_simd {

bool have_avx2();

// Horizontal taps of an RGB row rearranged for two taps per 256-bit multiply: for output o and tap
// pair j, eight int32 weights (w[2j] x3, 0, w[2j+1] x3, 0) that line up with source pixels 2j and
// 2j+1 unpacked to (R, G, B, -) lanes. An odd tap count is padded with a zero weight.
struct RgbPairTaps {
  int max_pairs = 0;
  std::vector<int32_t> first;    // first source pixel of each output
  std::vector<int32_t> pairs;    // tap pairs of each output
  std::vector<int32_t> weights;  // outputs x max_pairs x 8
};
RgbPairTaps rgb_pair_taps(const kernels::PilTaps& t);

// One RGB row of the horizontal pass. src: the source row, readable (any values) up to 8 bytes past
// pixel first + 2 * pairs of every output; dst: 3 bytes per output plus one scratch byte at the end.
void horizontal_row_rgb_avx2(const uint8_t* src, uint8_t* dst, const RgbPairTaps& t);

// One output row of the vertical pass: dst[i] = clip((half + sum_k w[k] * rows[k][i]) >> 22) for
// i < length. rows[k] readable and dst writable up to length rounded up to a multiple of 16.
void vertical_row_avx2(const uint8_t* const* rows, const int32_t* w, int taps, uint8_t* dst, size_t length);

}  // namespace iqa::resize_simd
