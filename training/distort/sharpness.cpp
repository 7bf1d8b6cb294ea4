// Sharpness and contrast: high sharpen (#24), contrast change (#25).
#include "training/distort/families.h"

namespace iqa::distort {

ImageF high_sharpen(const ImageF& img, double amount, Rng&) {
  // MATLAB imsharpen on RGB: unsharp masking of Lab lightness only, Gaussian radius (sigma) 3,
  // threshold 0: L' = L + amount * (L - G * L).
  constexpr double kRadius = 3.0;
  ImageF lab = rgb_to_lab(img);
  ImageF lightness = extract_channel(lab, 0);
  ImageF blurred = gaussian_filter(lightness, kRadius);
  for (size_t i = 0; i < lightness.pixels.size(); ++i)
    lightness.pixels[i] += float(amount) * (lightness.pixels[i] - blurred.pixels[i]);
  insert_channel(lab, 0, lightness);
  ImageF out = lab_to_rgb(lab);
  clamp_inplace(out);
  return out;
}

ImageF contrast_change(const ImageF& img, double amount, Rng&) {
  // Spline through (0.3, c1), (0.5, 0.5), (0.7, c2): the identity at amount = -0.2, an S-curve (more
  // contrast) above it, the inverse S (less contrast) below.
  ImageF out = img;
  apply_curve(out, curve_two_point(0.25 - amount / 4, 0.75 + amount / 4));
  return out;
}

}  // namespace iqa::distort
