// Augmentation operations on 8-bit HWC images: the CPU reference for SIND's view transforms
// (shared/spec/sind.md §1.3 and §5.1). Random choices are not made here; they come from the plans in
// training/image/augment_plan.h, which training/image/augment_views.cpp executes with these operations.
#pragma once
#include <array>
#include <vector>

#include "training/image/image.h"

namespace iqa {

struct Rect {
  int x = 0, y = 0, width = 0, height = 0;
  bool operator==(const Rect&) const = default;
};

struct Size2 {
  int width = 0, height = 0;
  bool operator==(const Size2&) const = default;
};

// ---- Resizing: PIL's Image.resize(BILINEAR), which torchvision's Resize applies to PIL images ------
// Separable triangle filter whose support widens with the downscale factor (antialias), horizontal
// pass first with its result rounded to uint8, then vertical; 22-bit fixed-point weights. Reproduces
// Pillow's arithmetic, so results match it exactly (the requirement is +-1 gray level).
ImageU8 resize_bilinear_antialias(const ImageU8& img, int out_width, int out_height);

// Pixels (rows[r], cols[c]) of resize_bilinear_antialias(flip_input ? hflip(img) : img, out_width,
// out_height), as a cols.size() x rows.size() image, computing only what those pixels need. A crop of a
// resize and the mini-patch mosaic are both such gathers; the flip costs nothing here.
ImageU8 resize_bilinear_antialias_gather(const ImageU8& img, int out_width, int out_height,
                                         const std::vector<int>& rows, const std::vector<int>& cols,
                                         bool flip_input = false);

// torchvision Resize(int): the short side becomes `size`, the long side int(size * long / short).
Size2 short_side_resize_size(int width, int height, int size);
ImageU8 resize_short_side(const ImageU8& img, int size);
// torchvision Resize((size, size)): both sides to `size`, aspect ratio not kept.
ImageU8 resize_squash(const ImageU8& img, int size);

// ---- Crops and flips ------------------------------------------------------------------------------
ImageU8 crop(const ImageU8& img, const Rect& r);
ImageU8 hflip(const ImageU8& img);
// torchvision CenterCrop offsets: int(round((W - w) / 2)) with Python's round-half-to-even.
Rect center_crop_rect(int width, int height, int crop_width, int crop_height);
ImageU8 center_crop(const ImageU8& img, int size);
// torchvision FiveCrop order: top-left, top-right, bottom-left, bottom-right, center.
std::array<Rect, 5> five_crop_rects(int width, int height, int size);
// SIND's NineCrop: offsets {0, (W-size)/2, W-size} (floor), rows top/middle/bottom outermost, then
// left/center/right: TL, TC, TR, ML, MC, MR, BL, BC, BR.
std::array<Rect, 9> nine_crop_rects(int width, int height, int size);
std::vector<ImageU8> five_crop(const ImageU8& img, int size);
std::vector<ImageU8> nine_crop(const ImageU8& img, int size);

// ---- The mini-patch mosaic (SIND's RandomCropMiniPatch / NineCropMiniPatch) -------------------------
constexpr int kMosaicGrid = 7;    // 7 x 7 cells
constexpr int kMosaicPatch = 32;  // 224 / 7
constexpr int kMosaicSize = kMosaicGrid * kMosaicPatch;

// Cell size of an already-resized image: (W // 7, H // 7).
Size2 mosaic_cell_size(int resized_width, int resized_height);
// The literal reference: cell (i, j) of `resized` is [i*ch, (i+1)*ch) x [j*cw, (j+1)*cw); its 32x32 patch
// at (i*ch + row_offsets[i], j*cw + col_offsets[j]) goes to [32i, 32i+32) x [32j, 32j+32) of the output.
// Requires ch, cw > 32 and offsets in [0, cell - 32].
ImageU8 mosaic_from_resized(const ImageU8& resized, const std::array<int, kMosaicGrid>& row_offsets,
                            const std::array<int, kMosaicGrid>& col_offsets);
// The source rows (or columns) the mosaic reads, in output order: cell*i + offset[i] + 0..31.
std::vector<int> mosaic_source_indices(int cell, const std::array<int, kMosaicGrid>& offsets);

// ---- Normalization --------------------------------------------------------------------------------
constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};
// ToTensor + Normalize in float32, in torchvision's order of operations: (v / 255 - mean[c]) / std[c],
// written planar CHW into out[channels * height * width].
// A pixel has only 256 values: normalisation tabulates the exact per-value result once per channel
// (the same float arithmetic as evaluating it per pixel, so outputs are unchanged) and looks it up.
struct NormalizeTable {
  float value[3][256];
};
NormalizeTable normalize_table(const std::array<float, 3>& mean, const std::array<float, 3>& stdev);

void normalize_to_chw(const ImageU8& img, float* out, const std::array<float, 3>& mean = kImageNetMean,
                      const std::array<float, 3>& stdev = kImageNetStd);

}  // namespace iqa
