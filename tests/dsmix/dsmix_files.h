// Small files for the DSMix data tests: a textured test image, and touch() for a one-byte file that only
// has to exist where a listing names one (TempDir is in tests/testing.h).
#pragma once
#include <cmath>
#include <fstream>
#include <string>

#include "training/image/image.h"

namespace iqa::testing {

inline ImageU8 textured_image(int w, int h, int phase) {
  ImageU8 img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(y, x, 0) = uint8_t(20 + (x * 200) / w);
      img.at(y, x, 1) = uint8_t(128 + 90 * std::sin(0.7 * (x + phase)) * std::cos(0.5 * y));
      img.at(y, x, 2) = uint8_t(30 + (y * 190) / h);
    }
  return img;
}

inline void touch(const std::string& path) { std::ofstream(path, std::ios::binary) << "x"; }

}  // namespace iqa::testing
