// Colour family: colour diffusion (#4), colour shift (#5), saturation in HSV (#7) and in Lab (#8).
// Colour quantisation (#6) lives in distort_color_quantize.cpp.
#include <algorithm>
#include <cmath>

#include "training/distort/families.h"

namespace iqa::distort {

ImageF color_diffusion(const ImageF& img, double amount, Rng&) {
  // Chroma planes blurred (sigma grows with the amount) and then amplified by the amount.
  ImageF lab = rgb_to_lab(img);
  const double sigma = 1.5 * amount + 2;
  for (int c = 1; c <= 2; ++c) {
    ImageF plane = gaussian_filter(extract_channel(lab, c), sigma);
    for (float& v : plane.pixels) v = float(v * amount);
    insert_channel(lab, c, plane);
  }
  ImageF out = lab_to_rgb(lab);
  clamp_inplace(out);
  return out;
}

namespace {
// MATLAB gradient(): central differences inside, one-sided at the borders; returns the magnitude.
ImageF gradient_magnitude(const ImageF& plane) {
  const int W = plane.width, H = plane.height;
  ImageF mag(W, H, 1);
  auto at = [&](int y, int x) { return plane.pixels[size_t(y) * W + x]; };
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      float gx = 0, gy = 0;
      if (W > 1) {
        const int x0 = std::max(x - 1, 0), x1 = std::min(x + 1, W - 1);
        gx = (at(y, x1) - at(y, x0)) / float(x1 - x0);
      }
      if (H > 1) {
        const int y0 = std::max(y - 1, 0), y1 = std::min(y + 1, H - 1);
        gy = (at(y1, x) - at(y0, x)) / float(y1 - y0);
      }
      mag.pixels[size_t(y) * W + x] = std::sqrt(gx * gx + gy * gy);
    }
  return mag;
}
}  // namespace

ImageF color_shift(const ImageF& img, double amount, Rng& rng) {
  const int W = img.width, H = img.height;
  // Edge weight: smoothed gradient magnitude of the luma, stretched so edges get ~1, flat areas ~0.
  ImageF e = gaussian_filter(gradient_magnitude(rgb_to_gray(img)), 4.0);
  mapmm_inplace(e);
  clamp_inplace(e, 0.1f, 1.0f);
  mapmm_inplace(e);  // ps2: min-max, clip to the 1st..99th percentile, min-max
  const float lo = percentile(e.pixels, 1.0), hi = percentile(e.pixels, 99.0);
  clamp_inplace(e, lo, hi);
  mapmm_inplace(e);
  // A random direction in the first quadrant, `amount` pixels long, rounded to whole pixels.
  const double u0 = rng.uniform(), u1 = rng.uniform();
  const double norm = std::max(std::hypot(u0, u1), 1e-12);
  const int dy = int(std::lround(u0 / norm * amount)), dx = int(std::lround(u1 / norm * amount));
  // Only the green channel moves; edges blend toward the shifted copy (edge-replicated shift).
  ImageF out = img;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const size_t i = size_t(y) * W + x;
      const float g = img.at(std::clamp(y - dy, 0, H - 1), std::clamp(x - dx, 0, W - 1), 1);
      const float w = e.pixels[i];
      out.pixels[3 * i + 1] = w * g + (1 - w) * img.pixels[3 * i + 1];
    }
  return out;
}

ImageF color_saturation_hsv(const ImageF& img, double factor, Rng&) {
  ImageF hsv = rgb_to_hsv(img);
  for (size_t i = 1; i < hsv.pixels.size(); i += 3) hsv.pixels[i] = float(hsv.pixels[i] * factor);
  ImageF out = hsv_to_rgb(hsv);
  clamp_inplace(out);
  return out;
}

ImageF color_saturation_lab(const ImageF& img, double factor, Rng&) {
  ImageF lab = rgb_to_lab(img);
  for (size_t i = 0; i < lab.pixels.size(); i += 3) {
    lab.pixels[i + 1] = float(lab.pixels[i + 1] * factor);
    lab.pixels[i + 2] = float(lab.pixels[i + 2] * factor);
  }
  ImageF out = lab_to_rgb(lab);
  clamp_inplace(out);
  return out;
}

}  // namespace iqa::distort
