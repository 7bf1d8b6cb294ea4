// PIL's filter taps, the view tap table, and the CPU reference renderer (kernels/views.h).
//
// The taps follow Pillow's separable resampler:
// - output sample i has its center at (i + 0.5) * scale in input coordinates, scale = in / out;
// - the triangle filter is stretched by max(scale, 1), so a downscale averages over the whole footprint;
// - taps cover input indices [int(center - support + 0.5), int(center + support + 0.5)) clipped to
//   the image, weights are normalised to sum to 1, then stored as integers with 22 fractional bits;
// - each pass accumulates in integers from a rounding offset of half a unit and clips to 0..255; the
//   horizontal pass runs first and its 8-bit result feeds the vertical pass.
#include "kernels/views.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/error.h"

namespace iqa::kernels {
namespace {

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

}  // namespace

PilTaps pil_bilinear_taps(int in_size, int out_size, const std::vector<int>& outputs, bool mirror) {
  IQA_CHECK(in_size > 0 && out_size > 0, "pil_bilinear_taps: invalid sizes ", in_size, " -> ", out_size);
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;               // the triangle's support is 1
  const double inverse_filter_scale = 1.0 / filter_scale;  // multiplied, not divided: same rounding as Pillow
  PilTaps t;
  t.max_taps = int(std::ceil(support)) * 2 + 1;
  t.first.resize(outputs.size());
  t.count.resize(outputs.size());
  t.weights.assign(outputs.size() * size_t(t.max_taps), 0);
  std::vector<double> w(size_t(t.max_taps));
  for (size_t o = 0; o < outputs.size(); ++o) {
    IQA_CHECK(outputs[o] >= 0 && outputs[o] < out_size, "pil_bilinear_taps: output index ", outputs[o],
              " outside the output size ", out_size);
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
      dst[k] = int32_t(normalised < 0 ? -0.5 + normalised * (1 << kPilPrecisionBits)
                                      : 0.5 + normalised * (1 << kPilPrecisionBits));
    }
    t.first[o] = lo;
    t.count[o] = n;
    if (mirror) {
      // Tap k of a mirrored output reads source index in - 1 - (lo + k): reverse to source order.
      std::reverse(dst, dst + n);
      t.first[o] = in_size - lo - n;
    }
  }
  return t;
}

std::vector<int32_t> build_view_tap_table(const std::vector<ViewGather>& views, const int32_t* image_widths,
                                          const int32_t* image_heights, int num_images, int out_height,
                                          int out_width) {
  IQA_CHECK(out_height > 0 && out_width > 0, "build_view_tap_table: invalid output size ", out_width, "x", out_height);
  const size_t V = views.size();
  std::vector<int32_t> table(V * (kViewHeaderInts + 3 * size_t(out_height) + 3 * size_t(out_width)));
  // Positions are indices, not pointers: the table grows as weights are appended.
  const size_t row_taps_at = V * kViewHeaderInts;
  const size_t col_taps_at = row_taps_at + V * 3 * size_t(out_height);
  // Appends one axis's taps: (first, count, offset) per output, weights at the end of the table.
  auto append_axis = [&table](const PilTaps& t, size_t axis_at) {
    for (size_t o = 0; o < t.first.size(); ++o) {
      IQA_CHECK(table.size() + size_t(t.count[o]) <= size_t(std::numeric_limits<int32_t>::max()),
                "build_view_tap_table: table too large");
      const int32_t offset = int32_t(table.size());
      table.insert(table.end(), t.weights.begin() + ptrdiff_t(o * size_t(t.max_taps)),
                   t.weights.begin() + ptrdiff_t(o * size_t(t.max_taps) + size_t(t.count[o])));
      table[axis_at + 3 * o + 0] = t.first[o];
      table[axis_at + 3 * o + 1] = t.count[o];
      table[axis_at + 3 * o + 2] = offset;
    }
  };
  for (size_t v = 0; v < V; ++v) {
    const ViewGather& g = views[v];
    IQA_CHECK(g.image >= 0 && g.image < num_images, "build_view_tap_table: view ", v, " names image ", g.image, " of ",
              num_images);
    IQA_CHECK(int(g.rows.size()) == out_height && int(g.cols.size()) == out_width, "build_view_tap_table: view ", v,
              " gathers ", g.cols.size(), "x", g.rows.size(), " pixels, the batch is ", out_width, "x", out_height);
    const int w = image_widths[g.image], h = image_heights[g.image];
    IQA_CHECK(w > 0 && h > 0, "build_view_tap_table: image ", g.image, " is ", w, "x", h);
    table[v * kViewHeaderInts + 0] = g.image;
    table[v * kViewHeaderInts + 1] = w;
    table[v * kViewHeaderInts + 2] = h;
    table[v * kViewHeaderInts + 3] = 0;
    append_axis(pil_bilinear_taps(h, g.resize_height, g.rows, false), row_taps_at + v * 3 * size_t(out_height));
    append_axis(pil_bilinear_taps(w, g.resize_width, g.cols, g.flip), col_taps_at + v * 3 * size_t(out_width));
  }
  return table;
}

namespace cpu {
namespace {

inline uint8_t clip_fixed(int32_t acc) {
  if (acc >= (255 << kPilPrecisionBits)) return 255;
  if (acc <= 0) return 0;
  return uint8_t(acc >> kPilPrecisionBits);
}

void store(void* out, DType dt, size_t i, uint8_t v, float mean, float stdev) {
  if (dt == DType::U8) {
    static_cast<uint8_t*>(out)[i] = v;
    return;
  }
  const float x = (float(v) / 255.0f - mean) / stdev;  // torchvision's ToTensor then Normalize, in f32
  if (dt == DType::F32) static_cast<float*>(out)[i] = x;
  else if (dt == DType::BF16) static_cast<uint16_t*>(out)[i] = float_to_bf16_bits(x);
  else static_cast<uint16_t*>(out)[i] = float_to_f16_bits(x);
}

}  // namespace

void render_views(const ViewBatch& batch, DType out_dtype, const ViewNormalization& norm, void* out) {
  IQA_CHECK(out_dtype == DType::U8 || out_dtype == DType::F32 || out_dtype == DType::BF16 || out_dtype == DType::F16,
            "render_views (cpu): output dtype ", dtype_name(out_dtype), " (u8, f32, bf16 or f16 expected)");
  const int V = batch.num_views, H = batch.out_height, W = batch.out_width;
  const int32_t* table = batch.table;
  const int32_t* row_taps = table + size_t(V) * kViewHeaderInts;
  const int32_t* col_taps = row_taps + size_t(V) * 3 * H;
  constexpr int32_t kHalf = 1 << (kPilPrecisionBits - 1);  // rounding offset: >> rounds to nearest
#pragma omp parallel for schedule(dynamic)
  for (int v = 0; v < V; ++v) {
    const int32_t* header = table + size_t(v) * kViewHeaderInts;
    const uint8_t* src = batch.images[header[0]];
    const size_t src_stride = size_t(header[1]) * 3;
    for (int r = 0; r < H; ++r) {
      const int32_t* rt = row_taps + (size_t(v) * H + r) * 3;
      const int32_t* wy = table + rt[2];
      for (int c = 0; c < W; ++c) {
        const int32_t* ct = col_taps + (size_t(v) * W + c) * 3;
        const int32_t* wx = table + ct[2];
        for (int ch = 0; ch < 3; ++ch) {
          int32_t vertical = kHalf;
          for (int k = 0; k < rt[1]; ++k) {
            const uint8_t* p = src + size_t(rt[0] + k) * src_stride + size_t(ct[0]) * 3 + ch;
            int32_t horizontal = kHalf;
            for (int j = 0; j < ct[1]; ++j) horizontal += int32_t(p[3 * j]) * wx[j];
            vertical += int32_t(clip_fixed(horizontal)) * wy[k];
          }
          const size_t at = ((size_t(v) * 3 + ch) * H + r) * W + c;
          store(out, out_dtype, at, clip_fixed(vertical), norm.mean[size_t(ch)], norm.stdev[size_t(ch)]);
        }
      }
    }
  }
}

}  // namespace cpu
}  // namespace iqa::kernels
