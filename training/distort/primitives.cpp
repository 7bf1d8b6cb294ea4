// Value-range, filtering and geometry primitives of the KADIS generator (see distort_primitives.h).
#include "training/distort/primitives.h"

#include <algorithm>
#include <cmath>

namespace iqa::distort {

namespace {
// Rows are independent everywhere below; parallelise only when an image is big enough to pay for it.
constexpr size_t kParallelValues = 1 << 15;
}  // namespace

// ---- value range ------------------------------------------------------------------------------

void mapmm_inplace(ImageF& img) {
  if (img.pixels.empty()) return;
  auto [lo_it, hi_it] = std::minmax_element(img.pixels.begin(), img.pixels.end());
  float lo = *lo_it, hi = *hi_it;
  if (!(lo < hi)) return;
  // Divide in double like MATLAB so the extremes land exactly on 0 and 1.
  const double range = double(hi) - double(lo);
  for (float& v : img.pixels) v = float((double(v) - lo) / range);
}

void clamp_inplace(ImageF& img, float lo, float hi) {
  for (float& v : img.pixels) v = std::min(std::max(v, lo), hi);
}

float percentile(std::vector<float> values, double p) {
  IQA_CHECK(!values.empty(), "percentile: no values");
  const size_t n = values.size();
  // Order statistic i (0-based) sits at percent 100*(i+0.5)/n.
  double pos = double(n) * p / 100.0 - 0.5;
  if (pos <= 0) return *std::min_element(values.begin(), values.end());
  if (pos >= double(n - 1)) return *std::max_element(values.begin(), values.end());
  size_t i = size_t(pos);
  double frac = pos - double(i);
  std::nth_element(values.begin(), values.begin() + i, values.end());
  float a = values[i];
  float b = *std::min_element(values.begin() + i + 1, values.end());
  return float(a + frac * (double(b) - a));
}

// ---- planes -----------------------------------------------------------------------------------

ImageF extract_channel(const ImageF& img, int channel) {
  ImageF plane(img.width, img.height, 1);
  const size_t n = size_t(img.width) * img.height;
  for (size_t i = 0; i < n; ++i) plane.pixels[i] = img.pixels[i * img.channels + channel];
  return plane;
}

void insert_channel(ImageF& img, int channel, const ImageF& plane) {
  IQA_CHECK(plane.width == img.width && plane.height == img.height && plane.channels == 1,
            "insert_channel: plane ", plane.width, "x", plane.height, "x", plane.channels, " does not fit image ",
            img.width, "x", img.height);
  const size_t n = size_t(img.width) * img.height;
  for (size_t i = 0; i < n; ++i) img.pixels[i * img.channels + channel] = plane.pixels[i];
}

// ---- filtering --------------------------------------------------------------------------------

std::vector<float> gaussian_kernel(double sigma) {
  IQA_CHECK(sigma > 0, "gaussian_kernel: sigma must be positive, got ", sigma);
  const int half = int(std::ceil(2.0 * sigma));
  std::vector<double> k(2 * half + 1);
  double sum = 0;
  for (int i = -half; i <= half; ++i) sum += k[i + half] = std::exp(-double(i) * i / (2.0 * sigma * sigma));
  std::vector<float> out(k.size());
  for (size_t i = 0; i < k.size(); ++i) out[i] = float(k[i] / sum);
  return out;
}

ImageF filter_separable(const ImageF& img, const std::vector<float>& kx, const std::vector<float>& ky) {
  const int W = img.width, H = img.height, C = img.channels;
  const int hx = int(kx.size()) / 2, hy = int(ky.size()) / 2;
  ImageF rows(W, H, C), out(W, H, C);
  // Horizontal pass: each row copied into a replicate-padded buffer, then a plain dot product per tap.
#pragma omp parallel for if (img.pixels.size() > kParallelValues)
  for (int y = 0; y < H; ++y) {
    std::vector<float> padded(size_t(W + 2 * hx) * C);
    const float* src = &img.pixels[size_t(y) * W * C];
    for (int x = -hx; x < W + hx; ++x) {
      const float* p = src + size_t(std::clamp(x, 0, W - 1)) * C;
      std::copy(p, p + C, &padded[size_t(x + hx) * C]);
    }
    float* dst = &rows.pixels[size_t(y) * W * C];
    std::fill(dst, dst + size_t(W) * C, 0.0f);
    for (size_t t = 0; t < kx.size(); ++t) {
      const float w = kx[t];
      const float* p = &padded[t * C];
      for (size_t i = 0; i < size_t(W) * C; ++i) dst[i] += w * p[i];
    }
  }
  // Vertical pass: whole rows at a time, source row index clamped.
#pragma omp parallel for if (img.pixels.size() > kParallelValues)
  for (int y = 0; y < H; ++y) {
    float* dst = &out.pixels[size_t(y) * W * C];
    std::fill(dst, dst + size_t(W) * C, 0.0f);
    for (int t = -hy; t <= hy; ++t) {
      const float w = ky[t + hy];
      const float* p = &rows.pixels[size_t(std::clamp(y + t, 0, H - 1)) * W * C];
      for (size_t i = 0; i < size_t(W) * C; ++i) dst[i] += w * p[i];
    }
  }
  return out;
}

ImageF gaussian_filter(const ImageF& img, double sigma) {
  std::vector<float> k = gaussian_kernel(sigma);
  return filter_separable(img, k, k);
}

ImageF filter2d(const ImageF& img, const Kernel2D& kernel) {
  const int W = img.width, H = img.height, C = img.channels;
  const int cy = kernel.rows / 2, cx = kernel.cols / 2;
  struct Tap { int dy, dx; float w; };
  std::vector<Tap> taps;
  for (int r = 0; r < kernel.rows; ++r)
    for (int c = 0; c < kernel.cols; ++c)
      if (kernel.at(r, c) != 0) taps.push_back({r - cy, c - cx, float(kernel.at(r, c))});
  // Replicate-pad once; then every tap is a shifted contiguous row segment.
  const int PW = W + 2 * cx, PH = H + 2 * cy;
  std::vector<float> padded(size_t(PW) * PH * C);
  for (int y = 0; y < PH; ++y)
    for (int x = 0; x < PW; ++x) {
      const float* p = &img.pixels[(size_t(std::clamp(y - cy, 0, H - 1)) * W + std::clamp(x - cx, 0, W - 1)) * C];
      std::copy(p, p + C, &padded[(size_t(y) * PW + x) * C]);
    }
  ImageF out(W, H, C);
#pragma omp parallel for if (img.pixels.size() * taps.size() > kParallelValues * 8)
  for (int y = 0; y < H; ++y) {
    float* dst = &out.pixels[size_t(y) * W * C];
    std::fill(dst, dst + size_t(W) * C, 0.0f);
    for (const Tap& t : taps) {
      const float* p = &padded[(size_t(y + cy + t.dy) * PW + (cx + t.dx)) * C];
      for (size_t i = 0; i < size_t(W) * C; ++i) dst[i] += t.w * p[i];
    }
  }
  return out;
}

Kernel2D disk_kernel(double rad) {
  IQA_CHECK(rad > 0, "disk_kernel: radius must be positive, got ", rad);
  const int crad = int(std::ceil(rad - 0.5));
  const int n = 2 * crad + 1;
  const double r2 = rad * rad;
  Kernel2D k{n, n, std::vector<double>(size_t(n) * n)};
  // Each cell holds the area of the unit square covered by the disk (exact circle-segment integrals
  // on the boundary cells), following fspecial's construction.
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c) {
      const double ax = std::abs(c - crad), ay = std::abs(r - crad);
      const double maxxy = std::max(ax, ay), minxy = std::min(ax, ay);
      const bool boundary = (r2 < (maxxy + 0.5) * (maxxy + 0.5) + (minxy + 0.5) * (minxy + 0.5) &&
                             r2 > (maxxy - 0.5) * (maxxy - 0.5) + (minxy - 0.5) * (minxy - 0.5)) ||
                            (minxy == 0 && maxxy - 0.5 < rad && maxxy + 0.5 >= rad);
      double v = 0;
      if (boundary) {
        const double m1 = r2 < (maxxy + 0.5) * (maxxy + 0.5) + (minxy - 0.5) * (minxy - 0.5)
                              ? minxy - 0.5
                              : std::sqrt(std::max(0.0, r2 - (maxxy + 0.5) * (maxxy + 0.5)));
        const double m2 = r2 > (maxxy - 0.5) * (maxxy - 0.5) + (minxy + 0.5) * (minxy + 0.5)
                              ? minxy + 0.5
                              : std::sqrt(std::max(0.0, r2 - (maxxy - 0.5) * (maxxy - 0.5)));
        const double a1 = std::asin(std::clamp(m1 / rad, -1.0, 1.0));
        const double a2 = std::asin(std::clamp(m2 / rad, -1.0, 1.0));
        v = r2 * (0.5 * (a2 - a1) + 0.25 * (std::sin(2 * a2) - std::sin(2 * a1))) - (maxxy - 0.5) * (m2 - m1) +
            (m1 - minxy + 0.5);
      }
      if ((maxxy + 0.5) * (maxxy + 0.5) + (minxy + 0.5) * (minxy + 0.5) < r2) v += 1.0;
      k.weights[size_t(r) * n + c] = v;
    }
  auto cell = [&](int r, int c) -> double& { return k.weights[size_t(r) * n + c]; };
  cell(crad, crad) = std::min(M_PI * r2, M_PI / 2);
  if (crad > 0 && rad > crad - 0.5 && r2 < (crad - 0.5) * (crad - 0.5) + 0.25) {
    const double m1 = std::sqrt(r2 - (crad - 0.5) * (crad - 0.5));
    const double a = std::asin(m1 / rad);
    const double sg0 = 2 * (r2 * (0.5 * a + 0.25 * std::sin(2 * a)) - m1 * (crad - 0.5));
    cell(2 * crad, crad) = cell(crad, 2 * crad) = cell(crad, 0) = cell(0, crad) = sg0;
    cell(2 * crad - 1, crad) -= sg0;
    cell(crad, 2 * crad - 1) -= sg0;
    cell(crad, 1) -= sg0;
    cell(1, crad) -= sg0;
  }
  cell(crad, crad) = std::min(cell(crad, crad), 1.0);
  double sum = 0;
  for (double w : k.weights) sum += w;
  for (double& w : k.weights) w /= sum;
  return k;
}

Kernel2D motion_kernel(double length, double angle_deg) {
  const double eps = 2.220446049250313e-16;
  const double len = std::max(1.0, length);
  const double half = (len - 1) / 2;
  const double phi = std::fmod(std::fmod(angle_deg, 180.0) + 180.0, 180.0) / 180.0 * M_PI;
  const double cosphi = std::cos(phi), sinphi = std::sin(phi);
  const int xsign = cosphi >= 0 ? 1 : -1;  // cos never hits exactly 0 in floating point
  const double linewdt = 1;
  // One quadrant of the line: distances of each cell centre to the line segment, turned into a
  // coverage weight (1 on the line, falling linearly to 0 one pixel away).
  const int sx = int(std::trunc(half * cosphi + linewdt * xsign - len * eps));
  const int sy = int(std::trunc(half * sinphi + linewdt - len * eps));
  const int qr = sy + 1, qc = std::abs(sx) + 1;
  std::vector<double> quad(size_t(qr) * qc);
  for (int r = 0; r < qr; ++r)
    for (int c = 0; c < qc; ++c) {
      const double x = double(c * xsign), y = double(r);
      double d = y * cosphi - x * sinphi;
      const double rad = std::sqrt(x * x + y * y);
      if (rad >= half && std::abs(d) <= linewdt) {
        const double x2last = half - std::abs((x + d * sinphi) / cosphi);
        d = std::sqrt(d * d + x2last * x2last);
      }
      quad[size_t(r) * qc + c] = std::max(0.0, linewdt + eps - std::abs(d));
    }
  // Unfold: the quadrant rotated by 180 degrees fills the top-left, the quadrant itself the
  // bottom-right (they share the centre cell).
  const int rows = 2 * qr - 1, cols = 2 * qc - 1;
  Kernel2D k{rows, cols, std::vector<double>(size_t(rows) * cols, 0.0)};
  for (int r = 0; r < qr; ++r)
    for (int c = 0; c < qc; ++c) {
      k.weights[size_t(qr - 1 - r) * cols + (qc - 1 - c)] = quad[size_t(r) * qc + c];
      k.weights[size_t(qr - 1 + r) * cols + (qc - 1 + c)] = quad[size_t(r) * qc + c];
    }
  double sum = 0;
  for (double w : k.weights) sum += w;
  for (double& w : k.weights) w /= sum + eps * len * len;
  if (cosphi > 0) {  // flip up-down
    for (int r = 0; r < rows / 2; ++r)
      std::swap_ranges(k.weights.begin() + size_t(r) * cols, k.weights.begin() + size_t(r + 1) * cols,
                       k.weights.begin() + size_t(rows - 1 - r) * cols);
  }
  return k;
}

// ---- geometry ----------------------------------------------------------------------------------

namespace {
// Cubic convolution weights (Keys, a = -0.5) for the four taps around a fractional position t.
inline void cubic_weights(float t, float w[4]) {
  const float a = -0.5f;
  auto near = [a](float d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };        // |d| <= 1
  auto far = [a](float d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };  // 1 < |d| < 2
  w[0] = far(1 + t);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}
}  // namespace

ImageF warp_bicubic(const ImageF& img, const std::vector<float>& sy, const std::vector<float>& sx) {
  const int W = img.width, H = img.height, C = img.channels;
  IQA_CHECK(sy.size() == size_t(W) * H && sx.size() == size_t(W) * H, "warp_bicubic: shift maps have ",
            sy.size(), " and ", sx.size(), " entries, image ", W, "x", H);
  ImageF out(W, H, C);
#pragma omp parallel for if (img.pixels.size() > kParallelValues)
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const size_t i = size_t(y) * W + x;
      const float py = float(y) - sy[i], px = float(x) - sx[i];
      const int y0 = int(std::floor(py)), x0 = int(std::floor(px));
      float wy[4], wx[4];
      cubic_weights(py - float(y0), wy);
      cubic_weights(px - float(x0), wx);
      for (int c = 0; c < C; ++c) {
        float acc = 0;
        for (int j = 0; j < 4; ++j) {
          const float* row = &img.pixels[size_t(std::clamp(y0 - 1 + j, 0, H - 1)) * W * C];
          float racc = 0;
          for (int k = 0; k < 4; ++k) racc += wx[k] * row[size_t(std::clamp(x0 - 1 + k, 0, W - 1)) * C + c];
          acc += wy[j] * racc;
        }
        out.pixels[i * C + c] = acc;
      }
    }
  return out;
}

ImageF resize_nearest(const ImageF& img, int out_w, int out_h, double scale_x, double scale_y) {
  IQA_CHECK(out_w > 0 && out_h > 0, "resize_nearest: output size ", out_w, "x", out_h, " is empty");
  const int C = img.channels;
  // MATLAB maps output pixel d (0-based) to input coordinate (d + 0.5)/scale - 0.5 and rounds; that is
  // floor((d + 0.5)/scale), clamped to the image.
  std::vector<int> src_x(out_w), src_y(out_h);
  for (int d = 0; d < out_w; ++d) src_x[d] = std::min(int(std::floor((d + 0.5) / scale_x)), img.width - 1);
  for (int d = 0; d < out_h; ++d) src_y[d] = std::min(int(std::floor((d + 0.5) / scale_y)), img.height - 1);
  ImageF out(out_w, out_h, C);
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) {
      const float* p = &img.pixels[(size_t(src_y[y]) * img.width + src_x[x]) * C];
      std::copy(p, p + C, &out.pixels[(size_t(y) * out_w + x) * C]);
    }
  return out;
}

}  // namespace iqa::distort
