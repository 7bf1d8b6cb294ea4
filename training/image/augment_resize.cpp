// PIL-compatible antialiased bilinear resize (see augment.h). The filter taps (Pillow's arithmetic,
// including mirroring for a flipped source) come from kernels/views.h, shared with the batched view
// kernels; this file runs Pillow's two passes over them:
// - each pass accumulates in integers from a rounding offset of half a unit and clips to 0..255; the
//   horizontal pass runs first and its uint8 result feeds the vertical pass.
// Both passes have an AVX2 form (augment_resize_simd.h) used for RGB when the CPU has it; it computes
// the same integer sums, so the bytes do not depend on which form ran.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/views.h"
#include "training/image/augment.h"
#include "training/image/augment_resize_simd.h"

namespace iqa {
namespace {

constexpr int kPrecisionBits = kernels::kPilPrecisionBits;
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);  // accumulators start here so >> rounds to nearest

using AxisTaps = kernels::PilTaps;

inline uint8_t clip_fixed(int32_t acc) {
  if (acc >= (255 << kPrecisionBits)) return 255;
  if (acc <= 0) return 0;
  return uint8_t(acc >> kPrecisionBits);
}

// One row of the horizontal pass for RGB: three accumulators sharing each tap's weight, the taps of an
// output read as one contiguous run of source pixels.
void horizontal_row_rgb(const uint8_t* src, uint8_t* dst, const AxisTaps& t) {
  const size_t outputs = t.first.size();
  for (size_t o = 0; o < outputs; ++o) {
    const int32_t* w = t.weights.data() + o * size_t(t.max_taps);
    const uint8_t* p = src + size_t(t.first[o]) * 3;
    int32_t r = kHalf, g = kHalf, b = kHalf;
    for (int k = 0, n = t.count[o]; k < n; ++k, p += 3) {
      r += int32_t(p[0]) * w[k];
      g += int32_t(p[1]) * w[k];
      b += int32_t(p[2]) * w[k];
    }
    dst[3 * o] = clip_fixed(r);
    dst[3 * o + 1] = clip_fixed(g);
    dst[3 * o + 2] = clip_fixed(b);
  }
}

// Any channel count: one channel at a time.
void horizontal_row_any(const uint8_t* src, uint8_t* dst, const AxisTaps& t, int C) {
  for (size_t o = 0; o < t.first.size(); ++o) {
    const int32_t* w = t.weights.data() + o * size_t(t.max_taps);
    const uint8_t* p = src + size_t(t.first[o]) * C;
    for (int c = 0; c < C; ++c) {
      int32_t acc = kHalf;
      for (int k = 0; k < t.count[o]; ++k) acc += int32_t(p[k * C + c]) * w[k];
      dst[o * size_t(C) + size_t(c)] = clip_fixed(acc);
    }
  }
}

void check_outputs(const std::vector<int>& idx, int out_size, const char* axis) {
  for (int v : idx)
    IQA_CHECK(v >= 0 && v < out_size, "resize_bilinear_antialias_gather: ", axis, " index ", v,
              " outside the output size ", out_size);
}

}  // namespace

ImageU8 resize_bilinear_antialias_gather(const ImageU8& img, int out_width, int out_height,
                                         const std::vector<int>& rows, const std::vector<int>& cols,
                                         bool flip_input) {
  IQA_CHECK(img.width > 0 && img.height > 0 && img.channels > 0, "resize_bilinear_antialias: empty input image ",
            img.width, "x", img.height, "x", img.channels);
  IQA_CHECK(out_width > 0 && out_height > 0, "resize_bilinear_antialias: invalid output size ", out_width, "x",
            out_height);
  check_outputs(rows, out_height, "row");
  check_outputs(cols, out_width, "column");
  const int C = img.channels;
  const AxisTaps h = kernels::pil_bilinear_taps(img.width, out_width, cols, flip_input);
  const AxisTaps v = kernels::pil_bilinear_taps(img.height, out_height, rows);

  // Source rows the vertical pass reads, each run through the horizontal pass once.
  std::vector<int> temp_row_of(size_t(img.height), -1);
  for (size_t r = 0; r < rows.size(); ++r)
    for (int k = 0; k < v.count[r]; ++k) temp_row_of[size_t(v.first[r] + k)] = 0;
  int temp_rows = 0;
  for (int& slot : temp_row_of)
    if (slot == 0) slot = temp_rows++;

  // Horizontal pass into uint8 temp rows. The stride leaves room for the SIMD passes' whole-vector
  // reads and writes past the last pixel (a scratch byte, and the vertical pass's 16-byte blocks).
  const size_t temp_width = cols.size() * size_t(C);
  const size_t temp_stride = (temp_width + 1 + 15) / 16 * 16;
  std::vector<uint8_t> temp(size_t(temp_rows) * temp_stride);
  const bool simd = C == 3 && resize_simd::have_avx2();
  const resize_simd::RgbPairTaps pair_taps = simd ? resize_simd::rgb_pair_taps(h) : resize_simd::RgbPairTaps{};
  const size_t src_stride = size_t(img.width) * C;
  std::vector<uint8_t> padded_row;  // the last source row plus slack for 8-byte reads past its end
  for (int y = 0; y < img.height; ++y) {
    if (temp_row_of[size_t(y)] < 0) continue;
    const uint8_t* src = img.pixels.data() + size_t(y) * src_stride;
    uint8_t* dst = temp.data() + size_t(temp_row_of[size_t(y)]) * temp_stride;
    if (simd) {
      if (y == img.height - 1) {
        padded_row.assign(src_stride + 16, 0);
        std::copy(src, src + src_stride, padded_row.begin());
        src = padded_row.data();
      }
      resize_simd::horizontal_row_rgb_avx2(src, dst, pair_taps);
    } else if (C == 3) {
      horizontal_row_rgb(src, dst, h);
    } else {
      horizontal_row_any(src, dst, h, C);
    }
  }

  // Vertical pass: whole rows at a time, tap by tap, so the inner loop runs over contiguous pixels.
  ImageU8 out(int(cols.size()), int(rows.size()), C);
  std::vector<int32_t> acc(temp_width);
  std::vector<uint8_t> out_row(temp_stride);
  std::vector<const uint8_t*> tap_rows(size_t(v.max_taps));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int32_t* w = v.weights.data() + r * size_t(v.max_taps);
    for (int k = 0; k < v.count[r]; ++k)
      tap_rows[size_t(k)] = temp.data() + size_t(temp_row_of[size_t(v.first[r] + k)]) * temp_stride;
    uint8_t* dst = out.pixels.data() + r * temp_width;
    if (simd) {
      resize_simd::vertical_row_avx2(tap_rows.data(), w, v.count[r], out_row.data(), temp_width);
      std::copy(out_row.begin(), out_row.begin() + ptrdiff_t(temp_width), dst);
      continue;
    }
    std::fill(acc.begin(), acc.end(), kHalf);
    for (int k = 0; k < v.count[r]; ++k) {
      const uint8_t* src = tap_rows[size_t(k)];
      const int32_t wk = w[k];
      for (size_t i = 0; i < temp_width; ++i) acc[i] += int32_t(src[i]) * wk;
    }
    for (size_t i = 0; i < temp_width; ++i) dst[i] = clip_fixed(acc[i]);
  }
  return out;
}

static std::vector<int> iota_vector(int n, int start = 0) {
  std::vector<int> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[size_t(i)] = start + i;
  return v;
}

ImageU8 resize_bilinear_antialias(const ImageU8& img, int out_width, int out_height) {
  return resize_bilinear_antialias_gather(img, out_width, out_height, iota_vector(out_height), iota_vector(out_width));
}

Size2 short_side_resize_size(int width, int height, int size) {
  IQA_CHECK(width > 0 && height > 0 && size > 0, "short_side_resize_size: invalid sizes ", width, "x", height,
            " -> ", size);
  const int short_side = std::min(width, height), long_side = std::max(width, height);
  // Python's int(size * long / short): true division in double, then truncation.
  const int new_long = int(double(int64_t(size) * long_side) / double(short_side));
  return width <= height ? Size2{size, new_long} : Size2{new_long, size};
}

ImageU8 resize_short_side(const ImageU8& img, int size) {
  Size2 s = short_side_resize_size(img.width, img.height, size);
  return resize_bilinear_antialias(img, s.width, s.height);
}

ImageU8 resize_squash(const ImageU8& img, int size) { return resize_bilinear_antialias(img, size, size); }

}  // namespace iqa
