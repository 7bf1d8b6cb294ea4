// The 25 KADID/KADIS distortions: every type x level on synthetic images, determinism, and the
// property each family must have (blur removes high frequencies, noise has the level's variance, ...).
#include <catch2/catch.hpp>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <string>

#include "training/distort/distort.h"
#include "training/distort/families.h"

using namespace iqa;
using namespace iqa::distort;

namespace {

// Textured, coloured test image: smooth gradients, a sinusoidal texture, a sharp-edged square.
ImageF synthetic(int W = 48, int H = 40) {
  ImageF img(W, H, 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float tex = 0.18f * std::sin(0.9f * x) * std::cos(0.7f * y);
      const bool square = x > W / 3 && x < 2 * W / 3 && y > H / 4 && y < 3 * H / 4;
      img.at(y, x, 0) = 0.15f + 0.6f * x / W + tex + (square ? 0.05f : 0.0f);
      img.at(y, x, 1) = 0.2f + 0.5f * y / H - 0.5f * tex + (square ? 0.2f : 0.0f);
      img.at(y, x, 2) = 0.75f - 0.4f * x / W + 0.3f * tex - (square ? 0.1f : 0.0f);
    }
  return img;
}

ImageF constant(int W, int H, float v) {
  ImageF img(W, H, 3);
  std::fill(img.pixels.begin(), img.pixels.end(), v);
  return img;
}

// Sum of squared differences between horizontal and vertical neighbours (high-frequency energy).
double hf_energy(const ImageF& img) {
  double e = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c) {
        if (x + 1 < img.width) e += std::pow(img.at(y, x + 1, c) - img.at(y, x, c), 2);
        if (y + 1 < img.height) e += std::pow(img.at(y + 1, x, c) - img.at(y, x, c), 2);
      }
  return e;
}

double mse(const ImageF& a, const ImageF& b) {
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) s += std::pow(double(a.pixels[i]) - b.pixels[i], 2);
  return s / double(a.pixels.size());
}

double mean(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s / double(v.size());
}

double variance(const std::vector<float>& v) {
  const double m = mean(v);
  double s = 0;
  for (float x : v) s += (x - m) * (x - m);
  return s / double(v.size());
}

double mean_luma(const ImageF& img) { return mean(rgb_to_gray(img).pixels); }

// Mean of max(R,G,B) - min(R,G,B): a simple saturation measure.
double mean_chroma(const ImageF& img) {
  double s = 0;
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    const float* p = &img.pixels[i];
    s += std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]});
  }
  return s / double(img.pixels.size() / 3);
}

std::vector<ImageF> all_levels(const ImageF& img, Distortion type, uint64_t seed = 3) {
  std::vector<ImageF> out;
  for (int l = 1; l <= kNumDistortionLevels; ++l) out.push_back(apply_distortion(img, int(type), l, seed));
  return out;
}

}  // namespace

TEST_CASE("distort: every type and level runs, stays in range and is deterministic", "[data][distort]") {
  const ImageF img = synthetic();
  for (int t = 1; t <= kNumDistortionTypes; ++t)
    for (int l = 1; l <= kNumDistortionLevels; ++l) {
      INFO(distortion_name(t) << " level " << l);
      ImageF a = apply_distortion(img, t, l, 11);
      REQUIRE(a.width == img.width);
      REQUIRE(a.height == img.height);
      REQUIRE(a.channels == 3);
      for (float v : a.pixels) REQUIRE((v >= 0.0f && v <= 1.0f));
      REQUIRE(apply_distortion(img, t, l, 11).pixels == a.pixels);
      ImageF k = kadis_distort(img, t, l, 11);
      auto [lo, hi] = std::minmax_element(k.pixels.begin(), k.pixels.end());
      REQUIRE(*lo == 0.0f);
      REQUIRE(*hi == 1.0f);
    }
  // Random types: another seed gives other pixels (level 5, where every random choice matters).
  for (int t = 1; t <= kNumDistortionTypes; ++t) {
    if (!distortion_is_random(t)) continue;
    INFO(distortion_name(t));
    REQUIRE(apply_distortion(img, t, 5, 11).pixels != apply_distortion(img, t, 5, 12).pixels);
  }
  // Deterministic types ignore the seed.
  REQUIRE(apply_distortion(img, 1, 3, 1).pixels == apply_distortion(img, 1, 3, 2).pixels);
}

TEST_CASE("distort: table, names and argument checks", "[data][distort]") {
  REQUIRE(std::string(distortion_name(1)) == "gaussian_blur");
  REQUIRE(std::string(distortion_name(25)) == "contrast_change");
  REQUIRE(distortion_from_name("jpeg2000") == 9);
  REQUIRE(distortion_from_name("nonsense") == 0);
  REQUIRE(distortion_parameter(9, 5) == 400);
  REQUIRE(distortion_parameter(10, 1) == 43);
  REQUIRE(distortion_parameter(18, 3) == 0);
  const ImageF img = synthetic();
  REQUIRE_THROWS_AS(apply_distortion(img, 0, 1, 0), Error);
  REQUIRE_THROWS_AS(apply_distortion(img, 26, 1, 0), Error);
  REQUIRE_THROWS_AS(apply_distortion(img, 1, 0, 0), Error);
  REQUIRE_THROWS_AS(apply_distortion(img, 1, 6, 0), Error);
  REQUIRE_THROWS_AS(apply_distortion(ImageF(8, 8, 1), 1, 1, 0), Error);
  REQUIRE(distortion_seed(1, 0, 3, 2) != distortion_seed(1, 0, 3, 3));
  REQUIRE(distortion_seed(1, 0, 3, 2) != distortion_seed(1, 1, 3, 2));
  REQUIRE(distortion_seed(1, 0, 3, 2) != distortion_seed(2, 0, 3, 2));
}

TEST_CASE("distort primitives: kernels match MATLAB's fspecial and imgaussfilt sizes", "[data][distort]") {
  const double sigmas[] = {0.1, 0.5, 1, 2, 5};
  const size_t sizes[] = {3, 3, 5, 9, 21};
  for (int i = 0; i < 5; ++i) REQUIRE(gaussian_kernel(sigmas[i]).size() == sizes[i]);
  // fspecial('disk', 1), as MATLAB prints it.
  Kernel2D d1 = disk_kernel(1);
  REQUIRE(d1.rows == 3);
  const double expect[9] = {0.0251, 0.1453, 0.0251, 0.1453, 0.3183, 0.1453, 0.0251, 0.1453, 0.0251};
  for (int i = 0; i < 9; ++i) REQUIRE(d1.weights[i] == Approx(expect[i]).margin(1e-4));
  Kernel2D d8 = disk_kernel(8);
  REQUIRE(d8.rows == 17);
  double sum = 0;
  for (double w : d8.weights) sum += w;
  REQUIRE(sum == Approx(1.0));
  REQUIRE(d8.at(8, 8) == Approx(d8.at(8, 9)));  // interior cells are fully covered
  // fspecial('motion', 2, 0) = [.25 .5 .25]; length 3 at 90 degrees is a vertical 3-tap box.
  Kernel2D m2 = motion_kernel(2, 0);
  REQUIRE(m2.rows == 1);
  REQUIRE(m2.cols == 3);
  REQUIRE(m2.weights[0] == Approx(0.25));
  REQUIRE(m2.weights[1] == Approx(0.5));
  Kernel2D m3 = motion_kernel(3, 90);
  REQUIRE(m3.rows == 3);
  REQUIRE(m3.cols == 1);
  for (double w : m3.weights) REQUIRE(w == Approx(1.0 / 3));
  Kernel2D m1 = motion_kernel(1, 37);
  REQUIRE(m1.weights.size() == 1);
  REQUIRE(m1.weights[0] == Approx(1.0));
  // A 45-degree line: symmetric about the anti-diagonal's centre, energy on the rising diagonal.
  Kernel2D m45 = motion_kernel(5, 45);
  REQUIRE(m45.rows == m45.cols);
  const int n = m45.rows;
  REQUIRE(m45.at(n - 1, 0) > m45.at(0, 0));
  REQUIRE(m45.at(0, n - 1) == Approx(m45.at(n - 1, 0)));
}

TEST_CASE("distort primitives: splines, colour spaces, mapmm, percentile", "[data][distort]") {
  // Three points: the parabola (2-4c)x^2 + (4c-1)x.
  NotAKnotSpline p = curve_midpoint(0.7);
  for (double x : {0.0, 0.2, 0.5, 0.9, 1.0}) REQUIRE(p(x) == Approx((2 - 4 * 0.7) * x * x + (4 * 0.7 - 1) * x));
  // Not-a-knot reproduces a cubic exactly; (0.3, 0.7) control points give the identity.
  auto cubic = [](double x) { return x * x * x - 0.8 * x + 0.2; };
  NotAKnotSpline s({0, 0.3, 0.5, 0.7, 1}, {cubic(0), cubic(0.3), cubic(0.5), cubic(0.7), cubic(1)});
  for (double x : {0.05, 0.31, 0.6, 0.95}) REQUIRE(s(x) == Approx(cubic(x)).margin(1e-12));
  NotAKnotSpline id = curve_two_point(0.3, 0.7);
  for (double x : {0.1, 0.45, 0.8}) REQUIRE(id(x) == Approx(x).margin(1e-12));

  const ImageF img = synthetic();
  auto max_diff = [](const ImageF& a, const ImageF& b) {
    float m = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(a.pixels[i] - b.pixels[i]));
    return m;
  };
  REQUIRE(max_diff(lab_to_rgb(rgb_to_lab(img)), img) < 1e-4f);
  REQUIRE(max_diff(ycbcr_to_rgb(rgb_to_ycbcr(img)), img) < 1e-5f);
  REQUIRE(max_diff(hsv_to_rgb(rgb_to_hsv(img)), img) < 1e-5f);
  ImageF white = rgb_to_lab(constant(2, 2, 1.0f));
  REQUIRE(white.pixels[0] == Approx(100).margin(0.01));
  REQUIRE(std::abs(white.pixels[1]) < 0.05f);
  REQUIRE(std::abs(white.pixels[2]) < 0.05f);
  ImageF ycc = rgb_to_ycbcr(constant(1, 1, 1.0f));
  REQUIRE(ycc.pixels[0] == Approx(235.0 / 255));
  REQUIRE(ycc.pixels[1] == Approx(128.0 / 255));

  ImageF m = img;
  mapmm_inplace(m);
  REQUIRE(*std::min_element(m.pixels.begin(), m.pixels.end()) == 0.0f);
  REQUIRE(*std::max_element(m.pixels.begin(), m.pixels.end()) == 1.0f);
  ImageF c = constant(3, 3, 0.4f);
  mapmm_inplace(c);
  REQUIRE(c.pixels[0] == 0.4f);
  // prctile([1 2 3 4], 50) = 2.5; prctile(1:10, 1) = 1 (below the first order statistic).
  REQUIRE(percentile({4, 1, 3, 2}, 50) == Approx(2.5));
  REQUIRE(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1) == Approx(1));
  REQUIRE(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99) == Approx(10));
  REQUIRE(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 30) == Approx(3.5));
}

TEST_CASE("distort: blurs remove high frequencies monotonically with the level", "[data][distort]") {
  const ImageF img = synthetic();
  for (Distortion t : {Distortion::GaussianBlur, Distortion::LensBlur, Distortion::MotionBlur}) {
    INFO(distortion_name(int(t)));
    auto levels = all_levels(img, t);
    double prev = hf_energy(img);
    for (int l = 0; l < 5; ++l) {
      const double e = hf_energy(levels[l]);
      // Level 1 is (numerically) the identity for Gaussian sigma 0.1 (outer taps ~e^-50) and for
      // motion length 1; every later level blurs more.
      if (l == 0 && t != Distortion::LensBlur) REQUIRE(e <= prev);
      else REQUIRE(e < prev);
      prev = e;
    }
  }
}

TEST_CASE("distort: noise statistics follow the level's parameter", "[data][distort]") {
  const ImageF gray = constant(160, 128, 0.5f);  // far from the clipping bounds
  for (int l = 1; l <= 5; ++l) {
    INFO("level " << l);
    const double v = distortion_parameter(11, l);
    ImageF wn = apply_distortion(gray, 11, l, 5);
    REQUIRE(std::abs(mean(wn.pixels) - 0.5) < 0.01);
    REQUIRE(variance(wn.pixels) == Approx(v).epsilon(0.05));
    // Noise in YCbCr: measured back in YCbCr, the luma plane carries variance v.
    const double vc = distortion_parameter(12, l);
    ImageF cn = rgb_to_ycbcr(apply_distortion(gray, 12, l, 5));
    REQUIRE(variance(extract_channel(cn, 0).pixels) == Approx(vc).epsilon(0.08));
    // Speckle: n uniform with variance v, so I*n has variance 0.25 v at I = 0.5.
    const double vm = distortion_parameter(14, l);
    REQUIRE(variance(apply_distortion(gray, 14, l, 5).pixels) == Approx(0.25 * vm).epsilon(0.05));
    // Impulse: density d split evenly into black and white values.
    const double d = distortion_parameter(13, l);
    ImageF im = apply_distortion(gray, 13, l, 5);
    const double n = double(im.pixels.size());
    const double zeros = double(std::count(im.pixels.begin(), im.pixels.end(), 0.0f)) / n;
    const double ones = double(std::count(im.pixels.begin(), im.pixels.end(), 1.0f)) / n;
    REQUIRE(zeros == Approx(d / 2).epsilon(0.2));
    REQUIRE(ones == Approx(d / 2).epsilon(0.2));
  }
}

TEST_CASE("distort: denoise substitute smooths the noise it adds", "[data][distort]") {
  const ImageF img = synthetic(64, 56);
  for (int l = 1; l <= 5; ++l) {
    INFO("level " << l);
    // Same seed, same counters: white_noise gives exactly the noisy input the denoiser sees.
    Rng rng(9);
    ImageF noisy = white_noise(img, distortion_parameter(15, l), rng);
    ImageF den = apply_distortion(img, 15, l, 9);
    REQUIRE(mse(den, img) < 0.5 * mse(noisy, img));
    REQUIRE(hf_energy(den) < 0.3 * hf_energy(noisy));
  }
}

TEST_CASE("distort: compression error grows with the level", "[data][distort]") {
  const ImageF img = synthetic(160, 120);
  for (Distortion t : {Distortion::Jpeg, Distortion::Jpeg2000}) {
    INFO(distortion_name(int(t)));
    auto levels = all_levels(img, t);
    double prev = 0;
    for (int l = 0; l < 5; ++l) {
      const double e = mse(levels[l], img);
      REQUIRE(e >= prev);
      prev = e;
    }
    REQUIRE(mse(levels[4], img) > 2 * mse(levels[0], img));
    REQUIRE(mse(levels[0], img) > 0);
  }
}

TEST_CASE("distort: brightness, mean shift and contrast move in the level's direction", "[data][distort]") {
  const ImageF img = synthetic();
  const double base = mean_luma(img);
  auto bright = all_levels(img, Distortion::Brighten);
  auto dark = all_levels(img, Distortion::Darken);
  auto shift = all_levels(img, Distortion::MeanShift);
  auto contrast = all_levels(img, Distortion::ContrastChange);
  double prev_b = base, prev_d = base, prev_s = 1e9, prev_c = 1e9;
  for (int l = 0; l < 5; ++l) {
    INFO("level " << l + 1);
    REQUIRE(mean_luma(bright[l]) > prev_b);
    REQUIRE(mean_luma(dark[l]) < prev_d);
    REQUIRE(mean_luma(shift[l]) < prev_s);
    const double sd = std::sqrt(variance(contrast[l].pixels));
    REQUIRE(sd < prev_c);
    prev_b = mean_luma(bright[l]);
    prev_d = mean_luma(dark[l]);
    prev_s = mean_luma(shift[l]);
    prev_c = sd;
  }
  REQUIRE(shift[2].pixels == img.pixels);  // level 3 shifts by 0
  REQUIRE(std::sqrt(variance(contrast[0].pixels)) > std::sqrt(variance(img.pixels)));
  REQUIRE(std::sqrt(variance(contrast[4].pixels)) < std::sqrt(variance(img.pixels)));
}

TEST_CASE("distort: colour saturation and colour distortions change colour as expected", "[data][distort]") {
  const ImageF img = synthetic();
  const double base = mean_chroma(img);
  // HSV: S scaled by 0.4, 0.2, 0.1, 0, -0.4: less colour each level, none at level 4.
  auto hsv = all_levels(img, Distortion::ColorSaturationHsv);
  double prev = base;
  for (int l = 0; l < 4; ++l) {
    REQUIRE(mean_chroma(hsv[l]) < prev);
    prev = mean_chroma(hsv[l]);
  }
  REQUIRE(mean_chroma(hsv[3]) < 1e-6);
  REQUIRE(mean_chroma(hsv[4]) > 1e-3);  // negative S inverts the hue
  // Lab: chroma scaled by 1, 2, 3, 6, 9: level 1 is (almost) the identity, then more colour.
  auto lab = all_levels(img, Distortion::ColorSaturationLab);
  REQUIRE(mean_chroma(lab[0]) == Approx(base).epsilon(1e-3));
  for (int l = 1; l < 5; ++l) REQUIRE(mean_chroma(lab[l]) > mean_chroma(lab[l - 1]));
  // Colour shift moves only the green channel.
  ImageF cs = apply_distortion(img, int(Distortion::ColorShift), 5, 4);
  double dg = 0;
  for (size_t i = 0; i < cs.pixels.size(); i += 3) {
    REQUIRE(cs.pixels[i] == img.pixels[i]);
    REQUIRE(cs.pixels[i + 2] == img.pixels[i + 2]);
    dg += std::abs(cs.pixels[i + 1] - img.pixels[i + 1]);
  }
  REQUIRE(dg > 0);
  // Colour quantisation: at most n distinct colours; quantisation: at most N+1 distinct values.
  auto cq = all_levels(img, Distortion::ColorQuantization);
  const int colors[] = {64, 48, 32, 16, 8};
  for (int l = 0; l < 5; ++l) {
    std::set<std::array<float, 3>> distinct;
    for (size_t i = 0; i < cq[l].pixels.size(); i += 3)
      distinct.insert({cq[l].pixels[i], cq[l].pixels[i + 1], cq[l].pixels[i + 2]});
    REQUIRE(int(distinct.size()) <= colors[l]);
    REQUIRE(distinct.size() >= 4);
  }
  REQUIRE(mse(cq[4], img) > mse(cq[0], img));
  auto q = all_levels(img, Distortion::Quantization);
  const int thresholds[] = {20, 16, 13, 10, 7};
  for (int l = 0; l < 5; ++l) {
    std::set<float> distinct(q[l].pixels.begin(), q[l].pixels.end());
    REQUIRE(int(distinct.size()) <= thresholds[l] + 1);
    REQUIRE(int(distinct.size()) >= thresholds[l] / 2);
  }
  // Diffusion blurs and amplifies chroma: level 5 is far more colourful than level 1.
  auto diff = all_levels(img, Distortion::ColorDiffusion);
  REQUIRE(mean_chroma(diff[4]) > mean_chroma(diff[0]));
}

TEST_CASE("distort: pixelate makes blocks, spatial distortions grow with the level", "[data][distort]") {
  const ImageF img = synthetic();
  auto pix = all_levels(img, Distortion::Pixelate);
  for (int l = 0; l < 5; ++l) {
    const double z = 0.95 - std::pow(distortion_parameter(21, l + 1), 0.6);
    const int w = int(std::ceil(img.width * z)), h = int(std::ceil(img.height * z));
    // Nearest-neighbour upsampling from w columns repeats exactly width - w columns (same for rows);
    // the texture has no equal neighbouring columns of its own.
    int same_cols = 0, same_rows = 0;
    for (int x = 1; x < img.width; ++x) {
      bool same = true;
      for (int y = 0; y < img.height && same; ++y)
        for (int c = 0; c < 3; ++c) same = same && pix[l].at(y, x, c) == pix[l].at(y, x - 1, c);
      same_cols += same;
    }
    for (int y = 1; y < img.height; ++y)
      same_rows += std::equal(&pix[l].pixels[size_t(y) * img.width * 3], &pix[l].pixels[size_t(y + 1) * img.width * 3],
                              &pix[l].pixels[size_t(y - 1) * img.width * 3]);
    REQUIRE(same_cols == img.width - w);
    REQUIRE(same_rows == img.height - h);
  }
  auto jit = all_levels(img, Distortion::Jitter);
  for (int l = 1; l < 5; ++l) REQUIRE(mse(jit[l], img) > mse(jit[l - 1], img));
  auto sharp = all_levels(img, Distortion::HighSharpen);
  for (int l = 1; l < 5; ++l) REQUIRE(hf_energy(sharp[l]) > hf_energy(sharp[l - 1]));
  REQUIRE(hf_energy(sharp[0]) > hf_energy(img));
  // Colour blocks: level 1 (2 blocks of 32x32) changes at least one block's worth of pixels.
  const ImageF big = synthetic(96, 80);
  ImageF cb = apply_distortion(big, int(Distortion::ColorBlock), 1, 2);
  size_t changed = 0;
  for (size_t i = 0; i < cb.pixels.size(); i += 3)
    changed += cb.pixels[i] != big.pixels[i] || cb.pixels[i + 1] != big.pixels[i + 1];
  REQUIRE(changed >= 32 * 32);
  // Non-eccentricity patches: more patches, more changed pixels.
  auto ne = all_levels(big, Distortion::NonEccentricityPatch);
  REQUIRE(mse(ne[0], big) > 0);
  REQUIRE(mse(ne[4], big) > mse(ne[0], big));
}

TEST_CASE("distort: results do not depend on the number of OpenMP threads", "[data][distort]") {
  // Big enough that the parallel loops (noise, filters, warps, non-local means) really split.
  const ImageF img = synthetic(136, 128);
  const int saved = omp_get_max_threads();
  for (int t : {3, 11, 15, 19, 24}) {
    INFO(distortion_name(t));
    omp_set_num_threads(1);
    ImageF one = apply_distortion(img, t, 4, 21);
    omp_set_num_threads(3);
    ImageF three = apply_distortion(img, t, 4, 21);
    REQUIRE(one.pixels == three.pixels);
  }
  omp_set_num_threads(saved);
}

TEST_CASE("distort: tiny and constant images are handled", "[data][distort]") {
  for (auto [w, h] : {std::pair{1, 1}, std::pair{2, 3}, std::pair{17, 5}}) {
    const ImageF small = synthetic(w, h);
    const ImageF flat = constant(w, h, 0.3f);
    for (int t = 1; t <= kNumDistortionTypes; ++t)
      for (int l : {1, 5}) {
        INFO(distortion_name(t) << " level " << l << " on " << w << "x" << h);
        for (const ImageF* img : {&small, &flat}) {
          ImageF k = kadis_distort(*img, t, l, 1);
          REQUIRE(k.width == w);
          for (float v : k.pixels) REQUIRE((v >= 0.0f && v <= 1.0f));
        }
      }
  }
}
