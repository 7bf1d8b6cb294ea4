// Denoise (#15). KADID adds white noise of variance v and then runs MATLAB's pretrained DnCNN
// (denoisingNetwork('DnCNN')) on R, G and B separately; the distortion is the over-smoothed,
// detail-less result. DnCNN's weights are not available here, so this is a CLASSICAL SUBSTITUTE:
// non-local means on each channel separately, with the known noise level setting the filter
// strength. It removes most of the noise and, like DnCNN at these (high) noise levels, visibly smooths
// texture. Pixels will not match KADID's; the character of the distortion does.
//
// Cost: patch distances come from box-filtered squared differences, one pass per search offset, so
// the work is O(pixels * search window) independent of the patch size.
#include <algorithm>
#include <array>
#include <cmath>

#include "training/distort/families.h"

namespace iqa::distort {

namespace {

constexpr int kPatchRadius = 2;   // 5x5 patches
constexpr int kSearchRadius = 5;  // 11x11 search window
// Filter strength h relative to the noise sigma, and the usual "- 2 sigma^2" bias removal on the
// mean squared patch distance. Tuned so the output is clearly smoother than the noisy input at
// every level while edges survive.
constexpr double kStrength = 0.6;
// exp(-x) tabulated on [0, kLutRange); weights beyond are treated as 0 (< 5e-5).
constexpr float kLutRange = 10.0f;
constexpr int kLutSize = 4096;

const std::array<float, kLutSize + 1>& exp_lut() {
  static const std::array<float, kLutSize + 1> lut = [] {
    std::array<float, kLutSize + 1> t{};
    for (int i = 0; i <= kLutSize; ++i) t[i] = float(std::exp(-double(i) * kLutRange / kLutSize));
    return t;
  }();
  return lut;
}

// Non-local means of one plane with noise standard deviation sigma.
ImageF nonlocal_means(const ImageF& plane, double sigma) {
  const int W = plane.width, H = plane.height, P = kPatchRadius, R = kSearchRadius;
  const int pad = P + R, PW = W + 2 * pad, PH = H + 2 * pad;
  std::vector<float> padded(size_t(PW) * PH);
  for (int y = 0; y < PH; ++y)
    for (int x = 0; x < PW; ++x)
      padded[size_t(y) * PW + x] = plane.pixels[size_t(std::clamp(y - pad, 0, H - 1)) * W + std::clamp(x - pad, 0, W - 1)];
  auto U = [&](int y, int x) { return padded[size_t(y + pad) * PW + (x + pad)]; };  // image coordinates

  const float patch_area = float((2 * P + 1) * (2 * P + 1));
  const float bias = float(2 * sigma * sigma);
  const float inv_h2 = float(1.0 / (kStrength * kStrength * sigma * sigma));
  const float lut_scale = kLutSize / kLutRange;
  const auto& lut = exp_lut();

  // The distance between p and p + d equals the one between (p + d) and p, so each pair of opposite
  // offsets is computed once: the weight w(p) found for offset d also pulls u(p) into p + d.
  // (Partners that would lie in the replicated border are skipped; only border pixels notice.)
  const int HR = H + 2 * P;                      // rows of the horizontally summed distances
  std::vector<float> hsum(size_t(HR) * W);       // row r holds image row r - P
  std::vector<float> weight(size_t(W) * H);      // w(p) for the current offset
  std::vector<float> acc(plane.pixels), wsum(size_t(W) * H, 1.0f);  // the zero offset: weight 1
#pragma omp parallel if (size_t(W) * H > (1 << 14))
  {
    std::vector<float> d(size_t(W + 2 * P));  // one row of squared differences, per thread
    for (int dy = 0; dy <= R; ++dy)
      for (int dx = -R; dx <= R; ++dx) {
        if (dy == 0 && dx <= 0) continue;  // the other half of the window, or the zero offset
#pragma omp for
        for (int r = 0; r < HR; ++r) {
          const int y = r - P;
          for (int x = -P; x < W + P; ++x) {
            const float diff = U(y, x) - U(y + dy, x + dx);
            d[size_t(x + P)] = diff * diff;
          }
          float run = 0;
          for (int k = 0; k < 2 * P; ++k) run += d[size_t(k)];
          for (int x = 0; x < W; ++x) {
            run += d[size_t(x + 2 * P)];
            hsum[size_t(r) * W + x] = run;
            run -= d[size_t(x)];
          }
        }
#pragma omp for
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            float s = 0;
            for (int k = 0; k <= 2 * P; ++k) s += hsum[size_t(y + k) * W + x];
            const float t = std::max(s / patch_area - bias, 0.0f) * inv_h2 * lut_scale;
            weight[size_t(y) * W + x] = t < float(kLutSize) ? lut[size_t(t)] : 0.0f;
          }
        // Each row gathers from both directions, so rows never write to each other.
#pragma omp for
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            const size_t i = size_t(y) * W + x;
            const float w = weight[i];
            acc[i] += w * U(y + dy, x + dx);
            wsum[i] += w;
            const int py = y - dy, px = x - dx;
            if (py >= 0 && px >= 0 && px < W) {
              const float wp = weight[size_t(py) * W + px];
              acc[i] += wp * U(py, px);
              wsum[i] += wp;
            }
          }
      }
  }
  ImageF out(W, H, 1);
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = acc[i] / wsum[i];
  return out;
}

}  // namespace

ImageF denoise(const ImageF& img, double variance, Rng& rng) {
  ImageF noisy = img;
  add_gaussian_noise_clipped(noisy, variance, rng);
  ImageF out(img.width, img.height, img.channels);
  for (int c = 0; c < img.channels; ++c) insert_channel(out, c, nonlocal_means(extract_channel(noisy, c), std::sqrt(variance)));
  clamp_inplace(out);
  return out;
}

}  // namespace iqa::distort
