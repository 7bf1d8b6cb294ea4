// Spatial family: jitter (#19), non-eccentricity patch (#20), pixelate (#21), colour block (#23).
#include <algorithm>
#include <cmath>

#include "training/distort/families.h"

namespace iqa::distort {

ImageF jitter(const ImageF& img, double amount, Rng& rng) {
  // imscatter(I, [], amount, 5): five rounds of per-pixel Gaussian displacements, bicubic resampling.
  constexpr int kIterations = 5;
  const size_t n = size_t(img.width) * img.height;
  ImageF out = img;
  std::vector<float> sy(n), sx(n);
  for (int it = 0; it < kIterations; ++it) {
    const uint64_t base = rng.reserve(2 * n), key = rng.seed();
#pragma omp parallel for if (n > (1 << 14))
    for (size_t i = 0; i < n; ++i) {
      sy[i] = float(amount) * philox::normal(key, base + i);
      sx[i] = float(amount) * philox::normal(key, base + n + i);
    }
    out = warp_bicubic(out, sy, sx);
  }
  return out;
}

ImageF non_eccentricity_patch(const ImageF& img, double patches, Rng& rng) {
  // Copies a 16x16 patch to a spot displaced by -8..+7 pixels, `patches` times, in place. Positions
  // follow the ports' recipe (a 16-pixel margin) and are clamped so tiny images stay in bounds.
  constexpr int kPatch = 16;
  const int W = img.width, H = img.height, C = img.channels;
  ImageF out = img;
  const int pw = std::min(kPatch, W), ph = std::min(kPatch, H);
  std::vector<float> patch(size_t(pw) * ph * C);
  for (int k = 0; k < int(patches); ++k) {
    const int w0 = std::clamp(int(std::floor(rng.uniform() * float(W - 3 * kPatch))) + kPatch, 0, W - pw);
    const int h0 = std::clamp(int(std::floor(rng.uniform() * float(H - 3 * kPatch))) + kPatch, 0, H - ph);
    const int h1 = std::clamp(int(std::floor((rng.uniform() - 0.5f) * kPatch)) + h0, 0, H - ph);
    const int w1 = std::clamp(int(std::floor((rng.uniform() - 0.5f) * kPatch)) + w0, 0, W - pw);
    for (int y = 0; y < ph; ++y)
      std::copy_n(&out.pixels[(size_t(h0 + y) * W + w0) * C], size_t(pw) * C, &patch[size_t(y) * pw * C]);
    for (int y = 0; y < ph; ++y)
      std::copy_n(&patch[size_t(y) * pw * C], size_t(pw) * C, &out.pixels[(size_t(h1 + y) * W + w1) * C]);
  }
  return out;
}

ImageF pixelate(const ImageF& img, double strength, Rng&) {
  // Nearest-neighbour down by z = 0.95 - s^0.6, then nearest back to the original size.
  const double z = 0.95 - std::pow(strength, 0.6);
  const int w = std::max(1, int(std::ceil(img.width * z))), h = std::max(1, int(std::ceil(img.height * z)));
  ImageF small = resize_nearest(img, w, h, z, z);
  return resize_nearest(small, img.width, img.height, double(img.width) / w, double(img.height) / h);
}

ImageF color_block(const ImageF& img, double blocks, Rng& rng) {
  // `blocks` uniformly coloured 32x32 squares at uniform random positions, overwriting the image.
  constexpr int kBlock = 32;
  const int W = img.width, H = img.height, C = img.channels;
  const int bw = std::min(kBlock, W), bh = std::min(kBlock, H);
  ImageF out = img;
  for (int k = 0; k < int(blocks); ++k) {
    float color[3];
    for (float& v : color) v = rng.uniform();
    const int x0 = std::min(int(std::floor(rng.uniform() * float(W - bw))), W - bw);
    const int y0 = std::min(int(std::floor(rng.uniform() * float(H - bh))), H - bh);
    for (int y = y0; y < y0 + bh; ++y)
      for (int x = x0; x < x0 + bw; ++x)
        for (int c = 0; c < C; ++c) out.pixels[(size_t(y) * W + x) * C + c] = color[c % 3];
  }
  return out;
}

}  // namespace iqa::distort
