// PIL-compatible antialiased bilinear resize (see augment.h). The filter taps (Pillow's arithmetic,
// including mirroring for a flipped source) come from kernels/views.h, shared with the batched view
// kernels; this file runs Pillow's two passes over them:
// - each pass accumulates in integers from a rounding offset of half a unit and clips to 0..255; the
//   horizontal pass runs first and its uint8 result feeds the vertical pass.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/views.h"
#include "training/augment.h"

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

// One row of the horizontal pass. kChannels > 0 fixes the channel count at compile time (RGB).
template <int kChannels>
void horizontal_row(const uint8_t* src, uint8_t* dst, const AxisTaps& t, int channels) {
  const int C = kChannels > 0 ? kChannels : channels;
  int32_t acc[4];
  for (size_t o = 0; o < t.first.size(); ++o) {
    const int32_t* w = t.weights.data() + o * size_t(t.max_taps);
    const uint8_t* p = src + size_t(t.first[o]) * C;
    for (int c0 = 0; c0 < C; c0 += 4) {  // channels in groups of up to 4 accumulators
      const int cn = std::min(C - c0, 4);
      for (int c = 0; c < cn; ++c) acc[c] = kHalf;
      for (int k = 0; k < t.count[o]; ++k)
        for (int c = 0; c < cn; ++c) acc[c] += int32_t(p[k * C + c0 + c]) * w[k];
      for (int c = 0; c < cn; ++c) dst[o * size_t(C) + size_t(c0 + c)] = clip_fixed(acc[c]);
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

  // Horizontal pass into uint8 temp rows.
  const size_t temp_stride = cols.size() * size_t(C);
  std::vector<uint8_t> temp(size_t(temp_rows) * temp_stride);
  for (int y = 0; y < img.height; ++y) {
    if (temp_row_of[size_t(y)] < 0) continue;
    const uint8_t* src = img.pixels.data() + size_t(y) * img.width * C;
    uint8_t* dst = temp.data() + size_t(temp_row_of[size_t(y)]) * temp_stride;
    if (C == 3)
      horizontal_row<3>(src, dst, h, C);
    else
      horizontal_row<0>(src, dst, h, C);
  }

  std::vector<int32_t> acc(temp_stride);
  // Vertical pass: whole rows at a time, tap by tap, so the inner loop runs over contiguous pixels.
  ImageU8 out(int(cols.size()), int(rows.size()), C);
  for (size_t r = 0; r < rows.size(); ++r) {
    const int32_t* w = v.weights.data() + r * size_t(v.max_taps);
    std::fill(acc.begin(), acc.end(), kHalf);
    for (int k = 0; k < v.count[r]; ++k) {
      const uint8_t* src = temp.data() + size_t(temp_row_of[size_t(v.first[r] + k)]) * temp_stride;
      const int32_t wk = w[k];
      for (size_t i = 0; i < temp_stride; ++i) acc[i] += int32_t(src[i]) * wk;
    }
    uint8_t* dst = out.pixels.data() + r * temp_stride;
    for (size_t i = 0; i < temp_stride; ++i) dst[i] = clip_fixed(acc[i]);
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
