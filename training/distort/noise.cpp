// Noise family: white noise (#11), white noise in YCbCr (#12), impulse (#13), multiplicative (#14).
// MATLAB imnoise on double images clips its result to [0,1]; so do these. Every random value comes
// from Philox at (seed, base + element index), so the loops parallelise without changing the output.
#include <algorithm>
#include <cmath>

#include "training/distort/families.h"

namespace iqa::distort {

namespace {
constexpr size_t kParallelValues = 1 << 15;
}

void add_gaussian_noise_clipped(ImageF& img, double variance, Rng& rng) {
  const size_t n = img.pixels.size();
  const uint64_t base = rng.reserve(n);
  const uint64_t key = rng.seed();
  const float sigma = float(std::sqrt(variance));
#pragma omp parallel for if (n > kParallelValues)
  for (size_t i = 0; i < n; ++i)
    img.pixels[i] = std::clamp(img.pixels[i] + sigma * philox::normal(key, base + i), 0.0f, 1.0f);
}

ImageF white_noise(const ImageF& img, double variance, Rng& rng) {
  ImageF out = img;
  add_gaussian_noise_clipped(out, variance, rng);
  return out;
}

ImageF white_noise_color_component(const ImageF& img, double variance, Rng& rng) {
  // Noise on all three YCbCr planes, clipped there, then back to RGB.
  ImageF ycc = rgb_to_ycbcr(img);
  add_gaussian_noise_clipped(ycc, variance, rng);
  return ycbcr_to_rgb(ycc);
}

ImageF impulse_noise(const ImageF& img, double density, Rng& rng) {
  // 'salt & pepper' per array element: below d/2 -> 0, in [d/2, d) -> 1, otherwise unchanged.
  ImageF out = img;
  const size_t n = out.pixels.size();
  const uint64_t base = rng.reserve(n), key = rng.seed();
  const float d = float(density);
#pragma omp parallel for if (n > kParallelValues)
  for (size_t i = 0; i < n; ++i) {
    const float u = philox::uniform(key, base + i);
    if (u < d / 2) out.pixels[i] = 0.0f;
    else if (u < d) out.pixels[i] = 1.0f;
  }
  return out;
}

ImageF multiplicative_noise(const ImageF& img, double variance, Rng& rng) {
  // 'speckle': J = I + I*n with n uniform, zero mean, variance v (so n = sqrt(12 v) * (U - 0.5)).
  ImageF out = img;
  const size_t n = out.pixels.size();
  const uint64_t base = rng.reserve(n), key = rng.seed();
  const float scale = float(std::sqrt(12.0 * variance));
#pragma omp parallel for if (n > kParallelValues)
  for (size_t i = 0; i < n; ++i) {
    const float v = out.pixels[i];
    out.pixels[i] = std::clamp(v + v * scale * (philox::uniform(key, base + i) - 0.5f), 0.0f, 1.0f);
  }
  return out;
}

}  // namespace iqa::distort
