// Blur family: Gaussian (#1), lens / disk (#2), motion (#3).
#include <cmath>

#include "training/distort/families.h"

namespace iqa::distort {

ImageF gaussian_blur(const ImageF& img, double sigma, Rng&) { return gaussian_filter(img, sigma); }

ImageF lens_blur(const ImageF& img, double radius, Rng&) { return filter2d(img, disk_kernel(radius)); }

ImageF motion_blur(const ImageF& img, double length, Rng& rng) {
  // randi([0,180]): an integer angle, uniformly one of 181 values.
  const int angle = std::min(180, int(std::floor(rng.uniform() * 181.0f)));
  return filter2d(img, motion_kernel(length, angle));
}

}  // namespace iqa::distort
