// Augmentation: PIL-compatible resize (against fixtures made by PIL), crops, flips, the mini-patch
// mosaic, normalization, and the determinism of plans.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <random>
#include <set>
#include <string>

#include "tests/fixture_paths.h"
#include "training/image/augment.h"
#include "training/image/augment_plan.h"
#include "training/image/decode.h"

using namespace iqa;
using iqa::testing::fixture_file;

namespace {

// The source image of tools/make_resize_fixture.py, bit for bit.
ImageU8 fixture_source() {
  const int W = 97, H = 61;
  ImageU8 img(W, H, 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) {
        int v = c == 0 ? x * 255 / (W - 1) : c == 1 ? y * 255 / (H - 1) : (x + y) * 255 / (W + H - 2);
        v += ((x / 4 + y / 4) % 2) ? 50 : -50;
        uint32_t h = (uint32_t(x) * 73856093u) ^ (uint32_t(y) * 19349663u) ^ (uint32_t(c) * 83492791u);
        v += int((h >> 13) % 13) - 6;
        img.at(y, x, c) = uint8_t(std::clamp(v, 0, 255));
      }
  return img;
}

ImageU8 random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  ImageU8 img(w, h, 3);
  for (auto& p : img.pixels) p = uint8_t(rng() & 0xFF);
  return img;
}

// Pixel (x, y) holds (x mod 256, y mod 256, x div 256 * 16 + y div 256): positions are readable back.
ImageU8 coordinate_image(int w, int h) {
  ImageU8 img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(y, x, 0) = uint8_t(x % 256);
      img.at(y, x, 1) = uint8_t(y % 256);
      img.at(y, x, 2) = uint8_t((x / 256) * 16 + y / 256);
    }
  return img;
}
int coord_x(const ImageU8& img, int y, int x) { return img.at(y, x, 0) + (img.at(y, x, 2) / 16) * 256; }
int coord_y(const ImageU8& img, int y, int x) { return img.at(y, x, 1) + (img.at(y, x, 2) % 16) * 256; }

int max_abs_diff(const ImageU8& a, const ImageU8& b) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  int worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

}  // namespace

TEST_CASE("resize matches PIL's Image.resize(BILINEAR) fixtures", "[data][augment]") {
  const ImageU8 src = fixture_source();
  const std::pair<int, int> targets[] = {{37, 23}, {13, 9}, {48, 72}, {109, 67}};
  for (auto [w, h] : targets) {
    const std::string path =
        fixture_file("resize/src97x61_to_" + std::to_string(w) + "x" + std::to_string(h) + ".png");
    const ImageU8 expected = decode_image(path);
    const ImageU8 got = resize_bilinear_antialias(src, w, h);
    size_t exact = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) exact += got.pixels[i] == expected.pixels[i];
    INFO(w << "x" << h << ": " << exact << " of " << got.pixels.size() << " values exact");
    REQUIRE(max_abs_diff(got, expected) <= 1);
    // The arithmetic is Pillow's, so in practice every value matches.
    CHECK(exact == got.pixels.size());
  }
}

TEST_CASE("resize: identity, constants and the 2x antialias kernel", "[data][augment]") {
  const ImageU8 img = random_image(31, 17, 3);
  REQUIRE(resize_bilinear_antialias(img, 31, 17).pixels == img.pixels);
  ImageU8 flat(40, 30, 3);
  std::fill(flat.pixels.begin(), flat.pixels.end(), uint8_t(173));
  for (auto [w, h] : {std::pair{7, 5}, std::pair{40, 90}, std::pair{123, 11}}) {
    ImageU8 r = resize_bilinear_antialias(flat, w, h);
    for (uint8_t v : r.pixels) REQUIRE(v == 173);
  }
  // Halving: output i is centered at input 2i + 1 with support 2, so its weights over inputs
  // 2i-1 .. 2i+2 are (1, 3, 3, 1) / 8, renormalised where the image edge cuts them off.
  ImageU8 row = random_image(40, 1, 9);
  ImageU8 half = resize_bilinear_antialias(row, 20, 1);
  for (int i = 0; i < 20; ++i)
    for (int c = 0; c < 3; ++c) {
      const double w[4] = {1, 3, 3, 1};
      double sum = 0, total = 0;
      for (int k = 0; k < 4; ++k) {
        int x = 2 * i - 1 + k;
        if (x < 0 || x >= 40) continue;
        sum += w[k] * row.at(0, x, c);
        total += w[k];
      }
      INFO("output " << i << " channel " << c);
      REQUIRE(std::abs(double(half.at(0, i, c)) - sum / total) <= 0.5 + 1e-6);
    }
}

TEST_CASE("resize gather equals cropping the full resize, with and without flip", "[data][augment]") {
  const ImageU8 img = random_image(83, 57, 5);
  std::vector<int> rows = {0, 1, 2, 40, 41, 70}, cols = {60, 3, 4, 5, 0, 22};
  for (bool flip : {false, true}) {
    const ImageU8 full = resize_bilinear_antialias(flip ? hflip(img) : img, 61, 71);
    const ImageU8 g = resize_bilinear_antialias_gather(img, 61, 71, rows, cols, flip);
    REQUIRE(g.width == 6);
    REQUIRE(g.height == 6);
    for (size_t r = 0; r < rows.size(); ++r)
      for (size_t c = 0; c < cols.size(); ++c)
        for (int ch = 0; ch < 3; ++ch) REQUIRE(g.at(int(r), int(c), ch) == full.at(rows[r], cols[c], ch));
  }
  REQUIRE_THROWS_AS(resize_bilinear_antialias_gather(img, 61, 71, {71}, {0}), Error);
  REQUIRE_THROWS_AS(resize_bilinear_antialias(ImageU8(), 4, 4), Error);
}

TEST_CASE("short-side resize follows torchvision's int(size * long / short)", "[data][augment]") {
  REQUIRE(short_side_resize_size(1024, 768, 672) == Size2{896, 672});
  REQUIRE(short_side_resize_size(768, 1024, 672) == Size2{672, 896});
  REQUIRE(short_side_resize_size(500, 333, 672) == Size2{1009, 672});  // 1009.009 truncated
  REQUIRE(short_side_resize_size(333, 500, 224) == Size2{224, 336});   // 336.336
  REQUIRE(short_side_resize_size(300, 300, 224) == Size2{224, 224});
  REQUIRE(short_side_resize_size(4000, 3000, 672) == Size2{896, 672});
  const ImageU8 img = random_image(50, 30, 1);
  const ImageU8 r = resize_short_side(img, 20);
  REQUIRE(r.width == 33);
  REQUIRE(r.height == 20);
  REQUIRE(r.pixels == resize_bilinear_antialias(img, 33, 20).pixels);
  const ImageU8 sq = resize_squash(img, 16);
  REQUIRE(sq.width == 16);
  REQUIRE(sq.height == 16);
}

TEST_CASE("crops, flips, FiveCrop and NineCrop positions", "[data][augment]") {
  const ImageU8 img = coordinate_image(10, 8);
  const ImageU8 c = crop(img, Rect{2, 3, 4, 5});
  REQUIRE(c.width == 4);
  REQUIRE(c.height == 5);
  REQUIRE(coord_x(c, 0, 0) == 2);
  REQUIRE(coord_y(c, 0, 0) == 3);
  REQUIRE(coord_x(c, 4, 3) == 5);
  REQUIRE(coord_y(c, 4, 3) == 7);
  REQUIRE_THROWS_AS(crop(img, Rect{7, 0, 4, 4}), Error);

  const ImageU8 f = hflip(img);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 10; ++x) REQUIRE(coord_x(f, y, x) == 9 - x);
  REQUIRE(hflip(f).pixels == img.pixels);

  // Python's round: 1.5 -> 2, 2.5 -> 2, 0.5 -> 0.
  REQUIRE(center_crop_rect(10, 10, 7, 7) == Rect{2, 2, 7, 7});
  REQUIRE(center_crop_rect(10, 10, 5, 5) == Rect{2, 2, 5, 5});
  REQUIRE(center_crop_rect(9, 8, 8, 8) == Rect{0, 0, 8, 8});
  REQUIRE(center_crop_rect(256, 256, 224, 224) == Rect{16, 16, 224, 224});
  REQUIRE(coord_x(center_crop(img, 4), 0, 0) == 3);
  REQUIRE(coord_y(center_crop(img, 4), 0, 0) == 2);

  auto five = five_crop_rects(10, 8, 4);
  REQUIRE(five[0] == Rect{0, 0, 4, 4});
  REQUIRE(five[1] == Rect{6, 0, 4, 4});
  REQUIRE(five[2] == Rect{0, 4, 4, 4});
  REQUIRE(five[3] == Rect{6, 4, 4, 4});
  REQUIRE(five[4] == Rect{3, 2, 4, 4});
  REQUIRE(coord_x(five_crop(img, 4)[3], 0, 0) == 6);

  // SIND NineCrop on the 256 global resize: {0, 16, 32}, rows outermost (TL, TC, TR, ML, ...).
  auto nine = nine_crop_rects(256, 256, 224);
  const int offs[3] = {0, 16, 32};
  for (int k = 0; k < 9; ++k) REQUIRE(nine[size_t(k)] == Rect{offs[k % 3], offs[k / 3], 224, 224});
  REQUIRE(nine_crop_rects(244, 244, 224)[5] == Rect{20, 10, 224, 224});
  auto crops = nine_crop(img, 4);
  REQUIRE(crops.size() == 9);
  REQUIRE(coord_x(crops[7], 0, 0) == 3);  // bottom-center: x = (10-4)/2
  REQUIRE(coord_y(crops[7], 0, 0) == 4);
}

TEST_CASE("mini-patch mosaic takes 32x32 patches at per-row and per-column offsets", "[data][augment]") {
  const ImageU8 img = coordinate_image(245, 238);  // cells 35 wide, 34 high
  REQUIRE(mosaic_cell_size(245, 238) == Size2{35, 34});
  const std::array<int, 7> rows = {0, 1, 2, 0, 2, 1, 2}, cols = {3, 0, 1, 2, 3, 0, 3};
  const ImageU8 m = mosaic_from_resized(img, rows, cols);
  REQUIRE(m.width == 224);
  REQUIRE(m.height == 224);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 7; ++j)
      for (int py : {0, 17, 31})
        for (int px : {0, 5, 31}) {
          INFO("cell " << i << "," << j);
          REQUIRE(coord_x(m, 32 * i + py, 32 * j + px) == 35 * j + cols[size_t(j)] + px);
          REQUIRE(coord_y(m, 32 * i + py, 32 * j + px) == 34 * i + rows[size_t(i)] + py);
        }
  std::array<int, 7> too_far = rows;
  too_far[4] = 3;  // 3 + 32 > 34
  REQUIRE_THROWS_AS(mosaic_from_resized(img, too_far, cols), Error);
  REQUIRE_THROWS_AS(mosaic_cell_size(224, 300), Error);  // 32-pixel cells: no room
  REQUIRE(mosaic_source_indices(35, cols)[32] == 35);     // cell 1 starts at 35 + offset 0
}

TEST_CASE("normalize writes ImageNet-normalised float CHW", "[data][augment]") {
  ImageU8 img(3, 2, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 13);
  std::vector<float> out(3 * 2 * 3, -99.0f);
  normalize_to_chw(img, out.data());
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) {
        const double expected = (img.at(y, x, c) / 255.0 - mean[c]) / stdv[c];
        REQUIRE(std::abs(out[size_t(c * 6 + y * 3 + x)] - expected) < 2e-6);
      }
  REQUIRE(std::abs(out[0] - (-0.485 / 0.229)) < 1e-6);  // pixel value 0
  ImageU8 gray(2, 2, 1);
  REQUIRE_THROWS_AS(normalize_to_chw(gray, out.data()), Error);
}

TEST_CASE("plans are a pure function of (seed, epoch, index) and cover their ranges", "[data][augment]") {
  const uint64_t k = sample_key(7, 3, 12345);
  REQUIRE(k == sample_key(7, 3, 12345));
  REQUIRE(k != sample_key(7, 3, 12346));
  REQUIRE(k != sample_key(7, 4, 12345));
  REQUIRE(k != sample_key(8, 3, 12345));

  const GlobalViewPlan a = draw_global_view_plan(k), b = draw_global_view_plan(k);
  REQUIRE((a.crop_x == b.crop_x && a.crop_y == b.crop_y && a.flip == b.flip));
  const MosaicPlan ma = draw_mosaic_plan(k, 1024, 768), mb = draw_mosaic_plan(k, 1024, 768);
  REQUIRE(ma.row_offsets == mb.row_offsets);
  REQUIRE(ma.col_offsets == mb.col_offsets);
  REQUIRE(ma.flip == mb.flip);
  REQUIRE(ma.resized_width == 896);
  REQUIRE(ma.resized_height == 672);

  // Ranges: crop offsets 0..32 (RandomCrop on 256), mosaic rows 0..63 (96-pixel cells, randint(64)),
  // columns 0..95 (128-pixel cells). Every value of the crop range shows up; flips are ~half.
  std::set<int> crop_x, crop_y;
  int flips = 0, mosaic_flips = 0, row_max = 0, col_max = 0, row_min = 99, col_min = 99;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const uint64_t key = sample_key(1, 0, uint64_t(i));
    GlobalViewPlan g = draw_global_view_plan(key);
    crop_x.insert(g.crop_x);
    crop_y.insert(g.crop_y);
    flips += g.flip;
    MosaicPlan m = draw_mosaic_plan(key, 1024, 768);
    mosaic_flips += m.flip;
    for (int r : m.row_offsets) row_max = std::max(row_max, r), row_min = std::min(row_min, r);
    for (int c : m.col_offsets) col_max = std::max(col_max, c), col_min = std::min(col_min, c);
  }
  REQUIRE(crop_x.size() == 33);
  REQUIRE(*crop_x.rbegin() == 32);
  REQUIRE(crop_y.size() == 33);
  REQUIRE(std::abs(flips - n / 2) < 200);
  REQUIRE(std::abs(mosaic_flips - n / 2) < 200);
  REQUIRE(row_min == 0);
  REQUIRE(row_max == 63);
  REQUIRE(col_min == 0);
  REQUIRE(col_max == 95);

  // Pinned: the counter layout is part of the reproducibility contract; changing it changes every run.
  const GlobalViewPlan pinned = draw_global_view_plan(sample_key(1, 0, 0));
  const MosaicPlan pinned_m = draw_mosaic_plan(sample_key(1, 0, 0), 1024, 768);
  INFO("global " << pinned.crop_x << "," << pinned.crop_y << "," << pinned.flip << " mosaic row0 "
                 << pinned_m.row_offsets[0] << " col0 " << pinned_m.col_offsets[0] << " flip " << pinned_m.flip);
  REQUIRE(pinned.crop_x == 29);
  REQUIRE(pinned.crop_y == 13);
  REQUIRE(pinned.flip);
  REQUIRE(pinned_m.row_offsets[0] == 53);
  REQUIRE(pinned_m.col_offsets[0] == 88);
  REQUIRE_FALSE(pinned_m.flip);
}

TEST_CASE("test-time plans: NineCrop and NineCropMiniPatch positions", "[data][augment]") {
  auto g = nine_crop_global_plans(256, 224);
  for (int k = 0; k < 9; ++k) {
    REQUIRE(g[size_t(k)].crop_x == 16 * (k % 3));
    REQUIRE(g[size_t(k)].crop_y == 16 * (k / 3));
    REQUIRE_FALSE(g[size_t(k)].flip);
  }
  // 1024x768 -> 896x672: cells 128 wide, 96 high; max (64, 96), mid (32, 48); (y, x) pairs in the
  // reference order (0,0), (0,max), (max,0), (max,max), (mid,mid), (mid,0), (mid,max), (0,mid), (max,mid).
  auto m = nine_crop_mosaic_plans(1024, 768);
  const int ys[9] = {0, 0, 64, 64, 32, 32, 32, 0, 64}, xs[9] = {0, 96, 0, 96, 48, 0, 96, 48, 48};
  for (size_t k = 0; k < 9; ++k) {
    for (int r : m[k].row_offsets) REQUIRE(r == ys[k]);
    for (int c : m[k].col_offsets) REQUIRE(c == xs[k]);
  }
  MosaicPlan center = center_mosaic_plan(1024, 768);
  REQUIRE(center.row_offsets[3] == 32);
  REQUIRE(center.col_offsets[6] == 48);
}

TEST_CASE("rendered views equal the literal flip -> resize -> crop/mosaic pipeline", "[data][augment]") {
  const ImageU8 src = random_image(150, 120, 11);  // short side 120 -> 672: resized 840 x 672
  for (uint64_t index : {0, 1, 2, 3}) {
    const uint64_t key = sample_key(42, 1, index);
    GlobalViewPlan g = draw_global_view_plan(key, 256, 224);
    g.flip = index % 2 == 1;  // cover both branches regardless of the draw
    const ImageU8 view = render_global_view(src, g);
    const ImageU8 literal =
        crop(resize_squash(g.flip ? hflip(src) : src, 256), Rect{g.crop_x, g.crop_y, 224, 224});
    REQUIRE(view.pixels == literal.pixels);

    MosaicPlan m = draw_mosaic_plan(key, src.width, src.height);
    m.flip = index >= 2;
    const ImageU8 mosaic = render_mosaic_view(src, m);
    const ImageU8 resized = resize_short_side(m.flip ? hflip(src) : src, 672);
    REQUIRE(resized.width == 840);
    REQUIRE(mosaic.pixels == mosaic_from_resized(resized, m.row_offsets, m.col_offsets).pixels);
  }
  // A plan drawn for another image size is refused.
  MosaicPlan wrong = draw_mosaic_plan(1, 300, 200);
  REQUIRE_THROWS_AS(render_mosaic_view(src, wrong), Error);
  GlobalViewPlan off;
  off.crop_x = 33;
  REQUIRE_THROWS_AS(render_global_view(src, off), Error);
}
