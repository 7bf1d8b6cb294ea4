// Crops, flips, FiveCrop/NineCrop, the mini-patch mosaic and normalization (see augment.h).
#include <cstring>

#include "training/image/augment.h"

namespace iqa {

ImageU8 crop(const ImageU8& img, const Rect& r) {
  IQA_CHECK(r.width > 0 && r.height > 0 && r.x >= 0 && r.y >= 0 && r.x + r.width <= img.width &&
                r.y + r.height <= img.height,
            "crop: rectangle (x=", r.x, ", y=", r.y, ", ", r.width, "x", r.height, ") outside the ", img.width, "x",
            img.height, " image");
  ImageU8 out(r.width, r.height, img.channels);
  const size_t row_bytes = size_t(r.width) * img.channels;
  for (int y = 0; y < r.height; ++y)
    std::memcpy(out.pixels.data() + size_t(y) * row_bytes,
                img.pixels.data() + (size_t(r.y + y) * img.width + r.x) * img.channels, row_bytes);
  return out;
}

ImageU8 hflip(const ImageU8& img) {
  ImageU8 out(img.width, img.height, img.channels);
  const int C = img.channels;
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* src = img.pixels.data() + size_t(y) * img.width * C;
    uint8_t* dst = out.pixels.data() + size_t(y) * img.width * C;
    for (int x = 0; x < img.width; ++x) std::memcpy(dst + size_t(x) * C, src + size_t(img.width - 1 - x) * C, size_t(C));
  }
  return out;
}

// Python's round(d / 2) for d >= 0: halves go to the even neighbour.
static int half_round_even(int d) {
  int half = d / 2;
  if (d % 2 == 1 && half % 2 == 1) ++half;
  return half;
}

Rect center_crop_rect(int width, int height, int crop_width, int crop_height) {
  IQA_CHECK(crop_width > 0 && crop_height > 0 && crop_width <= width && crop_height <= height, "center_crop: ",
            crop_width, "x", crop_height, " crop does not fit a ", width, "x", height, " image");
  return Rect{half_round_even(width - crop_width), half_round_even(height - crop_height), crop_width, crop_height};
}

ImageU8 center_crop(const ImageU8& img, int size) {
  return crop(img, center_crop_rect(img.width, img.height, size, size));
}

std::array<Rect, 5> five_crop_rects(int width, int height, int size) {
  IQA_CHECK(size > 0 && size <= width && size <= height, "five_crop: size ", size, " does not fit a ", width, "x",
            height, " image");
  const int right = width - size, bottom = height - size;
  return {Rect{0, 0, size, size}, Rect{right, 0, size, size}, Rect{0, bottom, size, size},
          Rect{right, bottom, size, size}, center_crop_rect(width, height, size, size)};
}

std::array<Rect, 9> nine_crop_rects(int width, int height, int size) {
  IQA_CHECK(size > 0 && size <= width && size <= height, "nine_crop: size ", size, " does not fit a ", width, "x",
            height, " image");
  const int xs[3] = {0, (width - size) / 2, width - size};
  const int ys[3] = {0, (height - size) / 2, height - size};
  std::array<Rect, 9> rects;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) rects[size_t(3 * i + j)] = Rect{xs[j], ys[i], size, size};
  return rects;
}

std::vector<ImageU8> five_crop(const ImageU8& img, int size) {
  std::vector<ImageU8> out;
  for (const Rect& r : five_crop_rects(img.width, img.height, size)) out.push_back(crop(img, r));
  return out;
}

std::vector<ImageU8> nine_crop(const ImageU8& img, int size) {
  std::vector<ImageU8> out;
  for (const Rect& r : nine_crop_rects(img.width, img.height, size)) out.push_back(crop(img, r));
  return out;
}

Size2 mosaic_cell_size(int resized_width, int resized_height) {
  Size2 cell{resized_width / kMosaicGrid, resized_height / kMosaicGrid};
  IQA_CHECK(cell.width > kMosaicPatch && cell.height > kMosaicPatch, "mosaic: a ", resized_width, "x",
            resized_height, " image has ", cell.width, "x", cell.height, " cells, need more than ", kMosaicPatch,
            " pixels per side");
  return cell;
}

static void check_mosaic_offsets(int cell, const std::array<int, kMosaicGrid>& offsets) {
  for (int i = 0; i < kMosaicGrid; ++i)
    IQA_CHECK(offsets[size_t(i)] >= 0 && offsets[size_t(i)] + kMosaicPatch <= cell, "mosaic: offset ",
              offsets[size_t(i)], " of cell ", i, " leaves the ", cell, "-pixel cell");
}

std::vector<int> mosaic_source_indices(int cell, const std::array<int, kMosaicGrid>& offsets) {
  check_mosaic_offsets(cell, offsets);
  std::vector<int> idx;
  idx.reserve(kMosaicSize);
  for (int i = 0; i < kMosaicGrid; ++i)
    for (int p = 0; p < kMosaicPatch; ++p) idx.push_back(i * cell + offsets[size_t(i)] + p);
  return idx;
}

ImageU8 mosaic_from_resized(const ImageU8& resized, const std::array<int, kMosaicGrid>& row_offsets,
                            const std::array<int, kMosaicGrid>& col_offsets) {
  const Size2 cell = mosaic_cell_size(resized.width, resized.height);
  check_mosaic_offsets(cell.height, row_offsets);
  check_mosaic_offsets(cell.width, col_offsets);
  ImageU8 out(kMosaicSize, kMosaicSize, resized.channels);
  for (int i = 0; i < kMosaicGrid; ++i)
    for (int j = 0; j < kMosaicGrid; ++j) {
      ImageU8 patch = crop(resized, Rect{j * cell.width + col_offsets[size_t(j)],
                                         i * cell.height + row_offsets[size_t(i)], kMosaicPatch, kMosaicPatch});
      for (int y = 0; y < kMosaicPatch; ++y)
        std::memcpy(&out.at(i * kMosaicPatch + y, j * kMosaicPatch, 0), &patch.at(y, 0, 0),
                    size_t(kMosaicPatch) * resized.channels);
    }
  return out;
}

NormalizeTable normalize_table(const std::array<float, 3>& mean, const std::array<float, 3>& stdev) {
  NormalizeTable t;
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) t.value[c][v] = (float(v) / 255.0f - mean[size_t(c)]) / stdev[size_t(c)];
  return t;
}

void normalize_to_chw(const ImageU8& img, float* out, const std::array<float, 3>& mean,
                      const std::array<float, 3>& stdev) {
  IQA_CHECK(img.channels == 3, "normalize_to_chw: need 3 channels, got ", img.channels);
  const size_t plane = size_t(img.width) * img.height;
  const NormalizeTable table = normalize_table(mean, stdev);
  float* r = out;
  float* g = out + plane;
  float* b = out + 2 * plane;
  const uint8_t* px = img.pixels.data();
  for (size_t i = 0; i < plane; ++i) {
    r[i] = table.value[0][px[3 * i]];
    g[i] = table.value[1][px[3 * i + 1]];
    b[i] = table.value[2][px[3 * i + 2]];
  }
}

}  // namespace iqa
