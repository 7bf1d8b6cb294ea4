// Colour-space conversions with MATLAB's conventions (rgb2lab, rgb2gray, rgb2ycbcr, rgb2hsv and
// their inverses) on float RGB in [0,1].
#include <algorithm>
#include <cmath>

#include "training/distort/primitives.h"

namespace iqa::distort {

namespace {

constexpr size_t kParallelPixels = 1 << 13;

void require_rgb(const ImageF& img, const char* who) {
  IQA_CHECK(img.channels == 3, who, ": needs a 3-channel image, got ", img.channels, " channels");
}

// Applies f(in[3], out[3]) to every pixel.
template <class F>
ImageF map_pixels(const ImageF& img, const char* who, F f) {
  require_rgb(img, who);
  ImageF out(img.width, img.height, 3);
  const size_t n = size_t(img.width) * img.height;
#pragma omp parallel for if (n > kParallelPixels)
  for (size_t i = 0; i < n; ++i) f(&img.pixels[3 * i], &out.pixels[3 * i]);
  return out;
}

// sRGB transfer function and its inverse, extended oddly below zero so out-of-gamut Lab values stay
// ordered until the caller truncates.
inline double srgb_to_linear(double c) {
  const double a = std::abs(c);
  const double v = a <= 0.04045 ? a / 12.92 : std::pow((a + 0.055) / 1.055, 2.4);
  return std::copysign(v, c);
}
inline double linear_to_srgb(double c) {
  const double a = std::abs(c);
  const double v = a <= 0.0031308 ? 12.92 * a : 1.055 * std::pow(a, 1 / 2.4) - 0.055;
  return std::copysign(v, c);
}

// D65 white as MATLAB's whitepoint('d65').
constexpr double kWhite[3] = {0.9504, 1.0, 1.0888};
constexpr double kRgbToXyz[3][3] = {{0.4124564, 0.3575761, 0.1804375},
                                    {0.2126729, 0.7151522, 0.0721750},
                                    {0.0193339, 0.1191920, 0.9503041}};
constexpr double kXyzToRgb[3][3] = {{3.2404542, -1.5371385, -0.4985314},
                                    {-0.9692660, 1.8760108, 0.0415560},
                                    {0.0556434, -0.2040259, 1.0572252}};
constexpr double kDelta = 6.0 / 29.0;

inline double lab_f(double t) {
  return t > kDelta * kDelta * kDelta ? std::cbrt(t) : t / (3 * kDelta * kDelta) + 4.0 / 29.0;
}
inline double lab_f_inv(double f) { return f > kDelta ? f * f * f : 3 * kDelta * kDelta * (f - 4.0 / 29.0); }

// BT.601 studio-range matrix on [0,1] values, with offsets, as rgb2ycbcr documents.
constexpr double kYcc[3][3] = {{65.481 / 255, 128.553 / 255, 24.966 / 255},
                               {-37.797 / 255, -74.203 / 255, 112.0 / 255},
                               {112.0 / 255, -93.786 / 255, -18.214 / 255}};
constexpr double kYccOffset[3] = {16.0 / 255, 128.0 / 255, 128.0 / 255};

struct Inverse3 {
  double m[3][3];
  explicit Inverse3(const double a[3][3]) {
    const double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                       a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                       a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        // Cofactor of a[c][r] (transposed) over the determinant.
        const int r0 = (c + 1) % 3, r1 = (c + 2) % 3, c0 = (r + 1) % 3, c1 = (r + 2) % 3;
        m[r][c] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
      }
  }
};

}  // namespace

ImageF rgb_to_lab(const ImageF& rgb) {
  return map_pixels(rgb, "rgb_to_lab", [](const float* in, float* out) {
    const double lin[3] = {srgb_to_linear(in[0]), srgb_to_linear(in[1]), srgb_to_linear(in[2])};
    double f[3];
    for (int r = 0; r < 3; ++r)
      f[r] = lab_f((kRgbToXyz[r][0] * lin[0] + kRgbToXyz[r][1] * lin[1] + kRgbToXyz[r][2] * lin[2]) / kWhite[r]);
    out[0] = float(116 * f[1] - 16);
    out[1] = float(500 * (f[0] - f[1]));
    out[2] = float(200 * (f[1] - f[2]));
  });
}

ImageF lab_to_rgb(const ImageF& lab) {
  return map_pixels(lab, "lab_to_rgb", [](const float* in, float* out) {
    const double fy = (double(in[0]) + 16) / 116;
    const double fx = fy + double(in[1]) / 500, fz = fy - double(in[2]) / 200;
    const double xyz[3] = {kWhite[0] * lab_f_inv(fx), kWhite[1] * lab_f_inv(fy), kWhite[2] * lab_f_inv(fz)};
    for (int r = 0; r < 3; ++r)
      out[r] = float(linear_to_srgb(kXyzToRgb[r][0] * xyz[0] + kXyzToRgb[r][1] * xyz[1] + kXyzToRgb[r][2] * xyz[2]));
  });
}

ImageF rgb_to_gray(const ImageF& rgb) {
  require_rgb(rgb, "rgb_to_gray");
  ImageF gray(rgb.width, rgb.height, 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    const float* p = &rgb.pixels[3 * i];
    gray.pixels[i] = 0.2989f * p[0] + 0.5870f * p[1] + 0.1140f * p[2];
  }
  return gray;
}

ImageF rgb_to_ycbcr(const ImageF& rgb) {
  return map_pixels(rgb, "rgb_to_ycbcr", [](const float* in, float* out) {
    for (int r = 0; r < 3; ++r)
      out[r] = float(kYccOffset[r] + kYcc[r][0] * in[0] + kYcc[r][1] * in[1] + kYcc[r][2] * in[2]);
  });
}

ImageF ycbcr_to_rgb(const ImageF& ycc) {
  static const Inverse3 inv(kYcc);
  return map_pixels(ycc, "ycbcr_to_rgb", [](const float* in, float* out) {
    const double d[3] = {in[0] - kYccOffset[0], in[1] - kYccOffset[1], in[2] - kYccOffset[2]};
    for (int r = 0; r < 3; ++r)
      out[r] = float(std::clamp(inv.m[r][0] * d[0] + inv.m[r][1] * d[1] + inv.m[r][2] * d[2], 0.0, 1.0));
  });
}

ImageF rgb_to_hsv(const ImageF& rgb) {
  return map_pixels(rgb, "rgb_to_hsv", [](const float* in, float* out) {
    const float r = in[0], g = in[1], b = in[2];
    const float v = std::max({r, g, b}), delta = v - std::min({r, g, b});
    const float s = v > 0 ? delta / v : 0.0f;
    float h = 0;
    if (delta > 0) {
      if (r == v) h = (g - b) / delta;
      else if (g == v) h = 2 + (b - r) / delta;
      else h = 4 + (r - g) / delta;
      h /= 6;
      if (h < 0) h += 1;
    }
    out[0] = h;
    out[1] = s;
    out[2] = v;
  });
}

ImageF hsv_to_rgb(const ImageF& hsv) {
  return map_pixels(hsv, "hsv_to_rgb", [](const float* in, float* out) {
    const float h6 = in[0] * 6, s = in[1], v = in[2];
    const int sector = int(std::floor(h6)) % 6;
    const float p = h6 - std::floor(h6);
    // The fully saturated colour of this hue, then pulled toward white by (1 - s).
    float hue[3];
    switch (sector) {
      case 0: hue[0] = 1; hue[1] = p; hue[2] = 0; break;
      case 1: hue[0] = 1 - p; hue[1] = 1; hue[2] = 0; break;
      case 2: hue[0] = 0; hue[1] = 1; hue[2] = p; break;
      case 3: hue[0] = 0; hue[1] = 1 - p; hue[2] = 1; break;
      case 4: hue[0] = p; hue[1] = 0; hue[2] = 1; break;
      default: hue[0] = 1; hue[1] = 0; hue[2] = 1 - p; break;
    }
    for (int c = 0; c < 3; ++c) out[c] = v * (1 - s * (1 - hue[c]));
  });
}

}  // namespace iqa::distort
