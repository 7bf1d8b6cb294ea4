// MATLAB `spline` (not-a-knot) and the KADIS `curves` tone curve built on it.
#include <algorithm>
#include <cmath>

#include "training/distort/primitives.h"

namespace iqa::distort {

namespace {
// Solves the small dense system a*x = b in place (Gaussian elimination with partial pivoting).
std::vector<double> solve_dense(std::vector<double> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t col = 0; col < n; ++col) {
    size_t piv = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::abs(a[r * n + col]) > std::abs(a[piv * n + col])) piv = r;
    IQA_CHECK(a[piv * n + col] != 0, "spline: singular system (repeated knots?)");
    if (piv != col) {
      for (size_t c = 0; c < n; ++c) std::swap(a[col * n + c], a[piv * n + c]);
      std::swap(b[col], b[piv]);
    }
    for (size_t r = col + 1; r < n; ++r) {
      const double f = a[r * n + col] / a[col * n + col];
      for (size_t c = col; c < n; ++c) a[r * n + c] -= f * a[col * n + c];
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t c = i + 1; c < n; ++c) s -= a[i * n + c] * x[c];
    x[i] = s / a[i * n + i];
  }
  return x;
}
}  // namespace

NotAKnotSpline::NotAKnotSpline(std::vector<double> xs, std::vector<double> ys) : xs_(std::move(xs)) {
  const size_t n = xs_.size();
  IQA_CHECK(n >= 3 && ys.size() == n, "spline: needs >= 3 points with matching x and y, got ", n, " and ",
            ys.size());
  for (size_t i = 0; i + 1 < n; ++i) IQA_CHECK(xs_[i] < xs_[i + 1], "spline: x must increase");
  coef_.assign(4 * (n - 1), 0.0);
  if (n == 3) {
    // Not-a-knot with three points is the parabola through them.
    const double d01 = (ys[1] - ys[0]) / (xs_[1] - xs_[0]), d12 = (ys[2] - ys[1]) / (xs_[2] - xs_[1]);
    const double a = (d12 - d01) / (xs_[2] - xs_[0]);
    for (size_t i = 0; i < 2; ++i) {
      coef_[4 * i + 0] = ys[i];
      coef_[4 * i + 1] = d01 + a * (2 * xs_[i] - xs_[0] - xs_[1]);
      coef_[4 * i + 2] = a;
    }
    return;
  }
  // Unknowns: second derivatives M_i at the knots. Interior rows are the usual C2 conditions; the
  // first and last rows make the third derivative continuous at x_1 and x_{n-2} (not-a-knot).
  std::vector<double> h(n - 1);
  for (size_t i = 0; i + 1 < n; ++i) h[i] = xs_[i + 1] - xs_[i];
  std::vector<double> a(n * n, 0.0), b(n, 0.0);
  a[0 * n + 0] = h[1];
  a[0 * n + 1] = -(h[0] + h[1]);
  a[0 * n + 2] = h[0];
  for (size_t i = 1; i + 1 < n; ++i) {
    a[i * n + i - 1] = h[i - 1];
    a[i * n + i] = 2 * (h[i - 1] + h[i]);
    a[i * n + i + 1] = h[i];
    b[i] = 6 * ((ys[i + 1] - ys[i]) / h[i] - (ys[i] - ys[i - 1]) / h[i - 1]);
  }
  a[(n - 1) * n + n - 3] = h[n - 2];
  a[(n - 1) * n + n - 2] = -(h[n - 3] + h[n - 2]);
  a[(n - 1) * n + n - 1] = h[n - 3];
  const std::vector<double> m = solve_dense(std::move(a), std::move(b));
  for (size_t i = 0; i + 1 < n; ++i) {
    coef_[4 * i + 0] = ys[i];
    coef_[4 * i + 1] = (ys[i + 1] - ys[i]) / h[i] - h[i] * (2 * m[i] + m[i + 1]) / 6;
    coef_[4 * i + 2] = m[i] / 2;
    coef_[4 * i + 3] = (m[i + 1] - m[i]) / (6 * h[i]);
  }
}

double NotAKnotSpline::operator()(double x) const {
  // Piece i covers [x_i, x_{i+1}); points outside use the first or last piece.
  const size_t pieces = xs_.size() - 1;
  size_t i = size_t(std::upper_bound(xs_.begin() + 1, xs_.end() - 1, x) - (xs_.begin() + 1));
  i = std::min(i, pieces - 1);
  const double t = x - xs_[i];
  const double* c = &coef_[4 * i];
  return c[0] + t * (c[1] + t * (c[2] + t * c[3]));
}

NotAKnotSpline curve_midpoint(double c) { return NotAKnotSpline({0.0, 0.5, 1.0}, {0.0, c, 1.0}); }

NotAKnotSpline curve_two_point(double c1, double c2) {
  return NotAKnotSpline({0.0, 0.3, 0.5, 0.7, 1.0}, {0.0, c1, 0.5, c2, 1.0});
}

void apply_curve(ImageF& img, const NotAKnotSpline& curve, int channel) {
  const size_t C = size_t(img.channels);
  const size_t n = img.pixels.size();
#pragma omp parallel for if (n > (1 << 15))
  for (size_t i = 0; i < n; ++i) {
    if (channel >= 0 && i % C != size_t(channel)) continue;
    img.pixels[i] = float(std::clamp(curve(double(img.pixels[i])), 0.0, 1.0));
  }
}

}  // namespace iqa::distort
