#include "training/image/image.h"

#include <cmath>

namespace iqa {

ImageF to_float(const ImageU8& img) {
  ImageF out(img.width, img.height, img.channels);
  for (size_t i = 0; i < img.pixels.size(); ++i) out.pixels[i] = float(img.pixels[i]) * (1.0f / 255.0f);
  return out;
}

ImageU8 to_u8(const ImageF& img) {
  ImageU8 out(img.width, img.height, img.channels);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    float v = std::round(img.pixels[i] * 255.0f);
    out.pixels[i] = uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
  }
  return out;
}

}  // namespace iqa
