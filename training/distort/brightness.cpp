// Brightness family: brighten (#16), darken (#17), mean shift (#18).
#include <algorithm>

#include "training/distort/families.h"

namespace iqa::distort {

ImageF brighten(const ImageF& img, double amount, Rng&) {
  // Two thirds the tone curve on RGB, one third the same curve on Lab lightness only (the KADIS
  // code's Lab branch is on for colour images). At the top level the midpoint exceeds 1 and the
  // parabola saturates, which the curve's clamp handles.
  const NotAKnotSpline curve = curve_midpoint(0.5 + amount / 2);
  ImageF rgb_branch = img;
  apply_curve(rgb_branch, curve);
  ImageF lab = rgb_to_lab(img);
  for (size_t i = 0; i < lab.pixels.size(); i += 3)
    lab.pixels[i] = float(100.0 * std::clamp(curve(lab.pixels[i] / 100.0), 0.0, 1.0));
  ImageF lab_branch = lab_to_rgb(lab);
  clamp_inplace(lab_branch);
  ImageF out(img.width, img.height, img.channels);
  for (size_t i = 0; i < out.pixels.size(); ++i)
    out.pixels[i] = (2.0f * rgb_branch.pixels[i] + lab_branch.pixels[i]) / 3.0f;
  return out;
}

ImageF darken(const ImageF& img, double amount, Rng&) {
  ImageF out = img;
  apply_curve(out, curve_midpoint(0.5 - amount / 2));
  return out;
}

ImageF mean_shift(const ImageF& img, double shift, Rng&) {
  ImageF out = img;
  for (float& v : out.pixels) v = std::clamp(float(v + shift), 0.0f, 1.0f);
  return out;
}

}  // namespace iqa::distort
