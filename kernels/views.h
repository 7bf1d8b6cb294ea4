// SIND's input views (shared/spec/sind.md §1.3, §5.1) rendered from decoded 8-bit RGB images: every view
// is a gather of out_h x out_w pixels (rows[r], cols[c]) from PIL's antialiased bilinear resize of a
// (possibly mirrored) source. The global view's crop and the local view's 7x7 mini-patch mosaic are both
// such gathers, so one kernel renders either, and the nine-crop test variants are nine views each.
//
// The filter taps depend only on the plan and the source size, so they are computed on the host
// (build_view_tap_table) into one int32 table that the CUDA path uploads in one copy. Each output pixel
// is then evaluated directly from its taps:
//   h_k = clip_u8(sum_j wx_j * src[y0 + k][x0 + j])   (PIL's horizontal pass, rounded to 8 bits)
//   out = clip_u8(sum_k wy_k * h_k)                   (PIL's vertical pass)
// in the same 22-bit fixed-point integers as Pillow, so CPU and CUDA give identical bytes, and the
// full-size resized image is never materialised.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/common.h"

namespace iqa::kernels {

// ---- PIL's antialiased bilinear filter (host side) ---------------------------------------------------
constexpr int kPilPrecisionBits = 22;  // 32 bits - 8 bits of pixel - 2 bits of headroom

// Filter taps of the requested outputs of one axis when resizing in_size -> out_size: output o reads
// input indices first[o] .. first[o] + count[o] - 1 with fixed-point weights
// weights[o * max_taps + k]. With `mirror` the taps are those of resizing the mirrored axis, expressed in
// source order (first' = in - first - count, weights reversed), which gives the same integer sums.
struct PilTaps {
  int max_taps = 0;
  std::vector<int32_t> first, count, weights;
};
PilTaps pil_bilinear_taps(int in_size, int out_size, const std::vector<int>& outputs, bool mirror = false);

// ---- A batch of views ----------------------------------------------------------------------------------
struct ViewGather {
  int image = 0;                            // which source image of the batch
  int resize_width = 0, resize_height = 0;  // the resize the view is cut from
  std::vector<int> rows, cols;              // output (r, c) = resized (rows[r], cols[c]); sizes out_h, out_w
  bool flip = false;                        // mirror the source horizontally before resizing
};

// The int32 table the render kernels read. Layout, for V views of out_h x out_w:
//   [V x kViewHeaderInts]   per view: image index, source width, source height, 0
//   [V x out_h x 3]         per output row: first source row, tap count, offset of its weights in the table
//   [V x out_w x 3]         per output column: the same for source columns (mirroring folded in)
//   weights                 the fixed-point weights the offsets point at
constexpr int kViewHeaderInts = 4;
std::vector<int32_t> build_view_tap_table(const std::vector<ViewGather>& views, const int32_t* image_widths,
                                          const int32_t* image_heights, int num_images, int out_height,
                                          int out_width);

// Output encodings: raw bytes (U8, the resampled values, for tests) or ImageNet-style normalisation
// (v / 255 - mean[c]) / std[c] in f32 arithmetic, stored as F32, BF16 or F16. Layout NCHW, C = 3.
struct ViewNormalization {
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> stdev{0.229f, 0.224f, 0.225f};
};

struct ViewBatch {
  const uint8_t* const* images = nullptr;  // num_images pointers to tightly packed HWC RGB bytes
  const int32_t* table = nullptr;          // build_view_tap_table's result
  int num_views = 0, out_height = 0, out_width = 0;
};

namespace cpu {
// Host pointers. out: [num_views, 3, out_height, out_width] of out_dtype (U8, F32, BF16 or F16).
void render_views(const ViewBatch& batch, DType out_dtype, const ViewNormalization& norm, void* out);
}  // namespace cpu

namespace cuda {
// Device pointers: images is a device array of device pointers, table the uploaded table.
void render_views(const ViewBatch& batch, DType out_dtype, const ViewNormalization& norm, void* out,
                  cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
