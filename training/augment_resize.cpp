// PIL-compatible antialiased bilinear resize (see augment.h), written from the behaviour of Pillow's
// separable resampler:
// - output sample i has its center at (i + 0.5) * scale in input coordinates, scale = in / out;
// - the triangle filter is stretched by max(scale, 1), so a downscale averages over the whole footprint;
// - taps cover input indices [int(center - support + 0.5), int(center + support + 0.5)) clipped to
//   the image, weights are normalised to sum to 1, then stored as integers with 22 fractional bits;
// - each pass accumulates in integers from a rounding offset of half a unit and clips to 0..255; the
//   horizontal pass runs first and its uint8 result feeds the vertical pass.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "training/augment.h"

namespace iqa {
namespace {

constexpr int kPrecisionBits = 22;  // 32 bits - 8 bits of pixel - 2 bits of headroom
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);  // accumulators start here so >> rounds to nearest

// Filter taps of the output samples an axis needs.
struct AxisTaps {
  int max_taps = 0;
  std::vector<int> first;        // first input index of each requested output
  std::vector<int> count;        // number of taps
  std::vector<int32_t> weights;  // max_taps per output, fixed point
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

AxisTaps compute_taps(int in_size, int out_size, const std::vector<int>& outputs) {
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;  // the triangle's support is 1
  const double inverse_filter_scale = 1.0 / filter_scale;  // multiplied, not divided: same rounding as Pillow
  AxisTaps t;
  t.max_taps = int(std::ceil(support)) * 2 + 1;
  t.first.resize(outputs.size());
  t.count.resize(outputs.size());
  t.weights.assign(outputs.size() * size_t(t.max_taps), 0);
  std::vector<double> w(size_t(t.max_taps));
  for (size_t o = 0; o < outputs.size(); ++o) {
    const double center = (outputs[o] + 0.5) * scale;
    int lo = int(center - support + 0.5);  // truncation toward zero, as a C cast
    int hi = int(center + support + 0.5);
    lo = std::max(lo, 0);
    hi = std::min(hi, in_size);
    const int n = std::min(hi - lo, t.max_taps);
    double total = 0.0;
    for (int k = 0; k < n; ++k) {
      w[size_t(k)] = triangle((k + lo - center + 0.5) * inverse_filter_scale);
      total += w[size_t(k)];
    }
    int32_t* dst = t.weights.data() + o * size_t(t.max_taps);
    for (int k = 0; k < n; ++k) {
      const double normalised = total != 0.0 ? w[size_t(k)] / total : w[size_t(k)];
      dst[k] = int32_t(normalised < 0 ? -0.5 + normalised * (1 << kPrecisionBits)
                                      : 0.5 + normalised * (1 << kPrecisionBits));
    }
    t.first[o] = lo;
    t.count[o] = n;
  }
  return t;
}

inline uint8_t clip_fixed(int32_t acc) {
  if (acc >= (255 << kPrecisionBits)) return 255;
  if (acc <= 0) return 0;
  return uint8_t(acc >> kPrecisionBits);
}

// Resizing a mirrored image: tap k of an output reads mirrored index first + k, i.e. source index
// W - 1 - first - k. Re-expressed in source order (first' = W - first - count, weights reversed) the
// integer sum is the same, and the inner loop needs no branch.
void mirror_taps(AxisTaps& t, int in_size) {
  for (size_t o = 0; o < t.first.size(); ++o) {
    int32_t* w = t.weights.data() + o * size_t(t.max_taps);
    std::reverse(w, w + t.count[o]);
    t.first[o] = in_size - t.first[o] - t.count[o];
  }
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
  AxisTaps h = compute_taps(img.width, out_width, cols);
  if (flip_input) mirror_taps(h, img.width);
  const AxisTaps v = compute_taps(img.height, out_height, rows);

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
