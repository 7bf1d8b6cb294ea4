// Colour quantisation (#6): MATLAB rgb2ind(I, n) then ind2rgb, i.e. a minimum-variance palette of n
// colours (Wu's greedy orthogonal bipartition of the RGB cube, on a 32-level-per-channel histogram)
// and Floyd-Steinberg error diffusion onto that palette.
#include <algorithm>
#include <array>
#include <cmath>

#include "training/distort/families.h"

namespace iqa::distort {

namespace {

constexpr int kSide = 33;  // 32 histogram levels per channel plus a zero plane for the prefix sums

// Cumulative (prefix-summed) colour moments over the 32^3 histogram: count, sum of each channel,
// sum of squared norms. Box sums then cost 8 lookups each.
struct Moments {
  std::vector<double> w, r, g, b, sq;
  Moments() : w(kSide * kSide * kSide), r(w.size()), g(w.size()), b(w.size()), sq(w.size()) {}
  static size_t idx(int i, int j, int k) { return (size_t(i) * kSide + j) * kSide + k; }
};

// Half-open box (lo, hi] on each axis, in histogram coordinates 0..32.
struct Box {
  std::array<int, 3> lo{0, 0, 0}, hi{32, 32, 32};
};

double box_sum(const std::vector<double>& m, const Box& x) {
  auto at = [&](int i, int j, int k) { return m[Moments::idx(i, j, k)]; };
  return at(x.hi[0], x.hi[1], x.hi[2]) - at(x.hi[0], x.hi[1], x.lo[2]) - at(x.hi[0], x.lo[1], x.hi[2]) +
         at(x.hi[0], x.lo[1], x.lo[2]) - at(x.lo[0], x.hi[1], x.hi[2]) + at(x.lo[0], x.hi[1], x.lo[2]) +
         at(x.lo[0], x.lo[1], x.hi[2]) - at(x.lo[0], x.lo[1], x.lo[2]);
}

struct BoxStats {
  double w, r, g, b, sq;
};
BoxStats stats(const Moments& m, const Box& x) {
  return {box_sum(m.w, x), box_sum(m.r, x), box_sum(m.g, x), box_sum(m.b, x), box_sum(m.sq, x)};
}
// Sum of squared deviations from the box mean (what a cut tries to reduce).
double box_variance(const Moments& m, const Box& x) {
  BoxStats s = stats(m, x);
  return s.w > 0 ? s.sq - (s.r * s.r + s.g * s.g + s.b * s.b) / s.w : 0.0;
}

// Splits `box` along the axis and position that maximise the between-halves term sum^2/w; returns
// false when no cut leaves both halves non-empty.
bool cut_box(const Moments& m, Box& box, Box& other) {
  double best = -1;
  int best_axis = -1, best_pos = 0;
  for (int axis = 0; axis < 3; ++axis)
    for (int pos = box.lo[axis] + 1; pos < box.hi[axis]; ++pos) {
      Box a = box, b = box;
      a.hi[axis] = pos;
      b.lo[axis] = pos;
      BoxStats sa = stats(m, a), sb = stats(m, b);
      if (sa.w <= 0 || sb.w <= 0) continue;
      const double score =
          (sa.r * sa.r + sa.g * sa.g + sa.b * sa.b) / sa.w + (sb.r * sb.r + sb.g * sb.g + sb.b * sb.b) / sb.w;
      if (score > best) best = score, best_axis = axis, best_pos = pos;
    }
  if (best_axis < 0) return false;
  other = box;
  box.hi[best_axis] = best_pos;
  other.lo[best_axis] = best_pos;
  return true;
}

std::vector<std::array<float, 3>> minimum_variance_palette(const ImageF& img, int colors) {
  Moments m;
  const size_t n = size_t(img.width) * img.height;
  for (size_t p = 0; p < n; ++p) {
    const float* v = &img.pixels[3 * p];
    int q[3];
    for (int c = 0; c < 3; ++c) q[c] = (int(std::lround(std::clamp(v[c], 0.0f, 1.0f) * 255.0f)) >> 3) + 1;
    const size_t i = Moments::idx(q[0], q[1], q[2]);
    m.w[i] += 1;
    m.r[i] += v[0];
    m.g[i] += v[1];
    m.b[i] += v[2];
    m.sq[i] += double(v[0]) * v[0] + double(v[1]) * v[1] + double(v[2]) * v[2];
  }
  for (std::vector<double>* a : {&m.w, &m.r, &m.g, &m.b, &m.sq}) {  // 3-D prefix sums
    std::vector<double>& t = *a;
    for (int i = 1; i < kSide; ++i)
      for (int j = 1; j < kSide; ++j)
        for (int k = 1; k < kSide; ++k)
          t[Moments::idx(i, j, k)] += t[Moments::idx(i - 1, j, k)] + t[Moments::idx(i, j - 1, k)] +
                                      t[Moments::idx(i, j, k - 1)] - t[Moments::idx(i - 1, j - 1, k)] -
                                      t[Moments::idx(i - 1, j, k - 1)] - t[Moments::idx(i, j - 1, k - 1)] +
                                      t[Moments::idx(i - 1, j - 1, k - 1)];
  }
  // Greedy: always cut the box with the largest variance.
  std::vector<Box> boxes(1);
  std::vector<double> variance{box_variance(m, boxes[0])};
  while (int(boxes.size()) < colors) {
    const size_t worst = size_t(std::max_element(variance.begin(), variance.end()) - variance.begin());
    if (variance[worst] <= 0) break;
    Box other;
    if (!cut_box(m, boxes[worst], other)) {
      variance[worst] = 0;
      continue;
    }
    boxes.push_back(other);
    variance[worst] = box_variance(m, boxes[worst]);
    variance.push_back(box_variance(m, other));
  }
  std::vector<std::array<float, 3>> palette;
  for (const Box& x : boxes) {
    BoxStats s = stats(m, x);
    if (s.w > 0) palette.push_back({float(s.r / s.w), float(s.g / s.w), float(s.b / s.w)});
  }
  return palette;
}

}  // namespace

ImageF color_quantization(const ImageF& img, double colors, Rng&) {
  const int W = img.width, H = img.height;
  const auto palette = minimum_variance_palette(img, int(colors));
  // Floyd-Steinberg in raster order: each pixel takes the nearest palette colour and pushes its error
  // 7/16 right, 3/16 down-left, 5/16 down, 1/16 down-right.
  std::vector<float> err_cur(size_t(W + 2) * 3, 0.0f), err_next(size_t(W + 2) * 3, 0.0f);
  ImageF out(W, H, 3);
  for (int y = 0; y < H; ++y) {
    std::fill(err_next.begin(), err_next.end(), 0.0f);
    for (int x = 0; x < W; ++x) {
      float want[3];
      for (int c = 0; c < 3; ++c) want[c] = std::clamp(img.at(y, x, c) + err_cur[size_t(x + 1) * 3 + c], 0.0f, 1.0f);
      size_t best = 0;
      float best_d = INFINITY;
      for (size_t k = 0; k < palette.size(); ++k) {
        const float d0 = want[0] - palette[k][0], d1 = want[1] - palette[k][1], d2 = want[2] - palette[k][2];
        const float d = d0 * d0 + d1 * d1 + d2 * d2;
        if (d < best_d) best_d = d, best = k;
      }
      for (int c = 0; c < 3; ++c) {
        out.at(y, x, c) = palette[best][c];
        const float e = want[c] - palette[best][c];
        err_cur[size_t(x + 2) * 3 + c] += e * (7.0f / 16);
        err_next[size_t(x) * 3 + c] += e * (3.0f / 16);
        err_next[size_t(x + 1) * 3 + c] += e * (5.0f / 16);
        err_next[size_t(x + 2) * 3 + c] += e * (1.0f / 16);
      }
    }
    std::swap(err_cur, err_next);
  }
  return out;
}

}  // namespace iqa::distort
