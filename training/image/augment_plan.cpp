// Drawing augmentation plans (see augment_plan.h).
//
// Counter layout under a sample's key (fixed: changing it changes every run's pixels):
//   0 global flip, 1 global crop_y, 2 global crop_x,
//   16 mosaic flip, 17..23 mosaic row offsets, 24..30 mosaic column offsets.
#include "training/image/augment_plan.h"

#include <cmath>

#include "kernels/philox.h"

namespace iqa {
namespace {

constexpr uint64_t kGlobalCounterBase = 0;
constexpr uint64_t kMosaicCounterBase = 16;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

MosaicPlan mosaic_plan_shell(int source_width, int source_height, int short_side) {
  MosaicPlan p;
  p.short_side = short_side;
  Size2 s = short_side_resize_size(source_width, source_height, short_side);
  p.resized_width = s.width;
  p.resized_height = s.height;
  mosaic_cell_size(s.width, s.height);  // throws when the cells are too small for 32-pixel patches
  return p;
}

}  // namespace

uint64_t sample_key(uint64_t seed, uint64_t epoch, uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ index);
}

int draw_index(uint64_t key, uint64_t counter, int n) {
  IQA_CHECK(n > 0, "draw_index: empty range (n = ", n, ")");
  // 24-bit uniform times n is exact in double, so floor never reaches n.
  int v = int(std::floor(double(philox::uniform(key, counter)) * n));
  return v < n ? v : n - 1;
}

GlobalViewPlan draw_global_view_plan(uint64_t key, int resize, int crop) {
  IQA_CHECK(crop > 0 && crop <= resize, "draw_global_view_plan: crop ", crop, " larger than resize ", resize);
  GlobalViewPlan p;
  p.resize = resize;
  p.crop = crop;
  p.flip = philox::uniform(key, kGlobalCounterBase + 0) < 0.5f;
  p.crop_y = draw_index(key, kGlobalCounterBase + 1, resize - crop + 1);
  p.crop_x = draw_index(key, kGlobalCounterBase + 2, resize - crop + 1);
  return p;
}

MosaicPlan draw_mosaic_plan(uint64_t key, int source_width, int source_height, int short_side) {
  MosaicPlan p = mosaic_plan_shell(source_width, source_height, short_side);
  const Size2 cell = mosaic_cell_size(p.resized_width, p.resized_height);
  p.flip = philox::uniform(key, kMosaicCounterBase + 0) < 0.5f;
  for (int i = 0; i < kMosaicGrid; ++i) {
    p.row_offsets[size_t(i)] = draw_index(key, kMosaicCounterBase + 1 + uint64_t(i), cell.height - kMosaicPatch);
    p.col_offsets[size_t(i)] =
        draw_index(key, kMosaicCounterBase + 1 + kMosaicGrid + uint64_t(i), cell.width - kMosaicPatch);
  }
  return p;
}

std::array<GlobalViewPlan, 9> nine_crop_global_plans(int resize, int crop) {
  std::array<GlobalViewPlan, 9> plans;
  std::array<Rect, 9> rects = nine_crop_rects(resize, resize, crop);
  for (size_t k = 0; k < 9; ++k) {
    plans[k].resize = resize;
    plans[k].crop = crop;
    plans[k].crop_x = rects[k].x;
    plans[k].crop_y = rects[k].y;
  }
  return plans;
}

std::array<MosaicPlan, 9> nine_crop_mosaic_plans(int source_width, int source_height, int short_side) {
  const MosaicPlan shell = mosaic_plan_shell(source_width, source_height, short_side);
  const Size2 cell = mosaic_cell_size(shell.resized_width, shell.resized_height);
  const int max_y = cell.height - kMosaicPatch, max_x = cell.width - kMosaicPatch;
  const int mid_y = max_y / 2, mid_x = max_x / 2;
  const int positions[9][2] = {{0, 0},         {0, max_x},     {max_y, 0},     {max_y, max_x}, {mid_y, mid_x},
                               {mid_y, 0},     {mid_y, max_x}, {0, mid_x},     {max_y, mid_x}};
  std::array<MosaicPlan, 9> plans;
  for (size_t k = 0; k < 9; ++k) {
    plans[k] = shell;
    plans[k].row_offsets.fill(positions[k][0]);
    plans[k].col_offsets.fill(positions[k][1]);
  }
  return plans;
}

MosaicPlan center_mosaic_plan(int source_width, int source_height, int short_side) {
  MosaicPlan p = mosaic_plan_shell(source_width, source_height, short_side);
  const Size2 cell = mosaic_cell_size(p.resized_width, p.resized_height);
  p.row_offsets.fill((cell.height - kMosaicPatch) / 2);
  p.col_offsets.fill((cell.width - kMosaicPatch) / 2);
  return p;
}

}  // namespace iqa
