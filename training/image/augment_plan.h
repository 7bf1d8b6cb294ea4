// Augmentation plans: every random choice of SIND's view transforms, drawn up front from a counter-based
// RNG keyed by (seed, epoch, sample index), so a sample's pixels do not depend on which thread or
// device executes the plan, or in what order. training/image/augment_views.cpp executes plans on the CPU.
#pragma once
#include <array>
#include <cstdint>

#include "training/image/augment.h"

namespace iqa {

// Global view (sind.md §1.3): flip the source, squash-resize to resize x resize, crop crop x crop.
struct GlobalViewPlan {
  int resize = 256;  // 256 at SIND HEAD, 244 in the 2024 experiments
  int crop = 224;
  int crop_x = 0, crop_y = 0;  // top-left of the crop in the resized image, 0..resize-crop
  bool flip = false;           // horizontal flip of the source, before resizing
};

// Local view: flip the source, resize its short side to short_side, cut the 7x7 mini-patch mosaic.
// Offsets are shared along each row and each column of cells (RandomCropMiniPatch).
struct MosaicPlan {
  int short_side = 672;
  int resized_width = 0, resized_height = 0;  // of the source this plan was drawn for
  std::array<int, kMosaicGrid> row_offsets{};  // top of the patch inside each row of cells
  std::array<int, kMosaicGrid> col_offsets{};  // left of the patch inside each column of cells
  bool flip = false;
};

// A well-mixed 64-bit key per sample (splitmix64 chain over seed, epoch, index).
uint64_t sample_key(uint64_t seed, uint64_t epoch, uint64_t index);
// Uniform integer in [0, n) from Philox counter `counter` of `key`.
int draw_index(uint64_t key, uint64_t counter, int n);

// Training draws. Flip with probability 1/2; crop offsets uniform over 0..resize-crop (RandomCrop);
// mosaic offsets uniform over 0..cell-33 (torch.randint(cell - 32), as the reference code does).
GlobalViewPlan draw_global_view_plan(uint64_t key, int resize = 256, int crop = 224);
MosaicPlan draw_mosaic_plan(uint64_t key, int source_width, int source_height, int short_side = 672);

// Test-time plans (sind.md §5.1), no flips. NineCrop: offsets {0, mid, max}, TL, TC, TR, ML, ... BR.
std::array<GlobalViewPlan, 9> nine_crop_global_plans(int resize = 256, int crop = 224);
// NineCropMiniPatch: every cell uses one offset pair (y, x) in the order (0,0), (0,max), (max,0),
// (max,max), (mid,mid), (mid,0), (mid,max), (0,mid), (max,mid), with max = cell-32, mid = max // 2.
std::array<MosaicPlan, 9> nine_crop_mosaic_plans(int source_width, int source_height, int short_side = 672);
// RandomCropMiniPatch(center=True): every offset (cell - 32) // 2.
MosaicPlan center_mosaic_plan(int source_width, int source_height, int short_side = 672);

// CPU execution of the plans; both return 224 x 224 (crop x crop) RGB images.
ImageU8 render_global_view(const ImageU8& source, const GlobalViewPlan& plan);
ImageU8 render_mosaic_view(const ImageU8& source, const MosaicPlan& plan);

}  // namespace iqa
