// Host images: 8-bit (what decoders produce and PIL-style resizing consumes) and float (what the
// KADID/KADIS distortions, written against MATLAB's double images in [0,1], operate on).
// Both are interleaved HWC, row-major, tightly packed.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/error.h"

namespace iqa {

struct ImageU8 {
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;  // height * width * channels

  ImageU8() = default;
  ImageU8(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  uint8_t& at(int y, int x, int ch) { return pixels[(size_t(y) * width + x) * channels + ch]; }
  uint8_t at(int y, int x, int ch) const { return pixels[(size_t(y) * width + x) * channels + ch]; }
  bool empty() const { return pixels.empty(); }
};

struct ImageF {
  int width = 0, height = 0, channels = 3;
  std::vector<float> pixels;  // height * width * channels, nominally in [0, 1]

  ImageF() = default;
  ImageF(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  float& at(int y, int x, int ch) { return pixels[(size_t(y) * width + x) * channels + ch]; }
  float at(int y, int x, int ch) const { return pixels[(size_t(y) * width + x) * channels + ch]; }
};

// [0,255] <-> [0,1]; to_u8 rounds half away from zero and saturates (MATLAB's im2uint8).
ImageF to_float(const ImageU8& img);
ImageU8 to_u8(const ImageF& img);

}  // namespace iqa
