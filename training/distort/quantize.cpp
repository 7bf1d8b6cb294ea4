// Quantisation (#22): t = multithresh(I, N) (N-threshold Otsu over all RGB values jointly), then
// imquantize(I, t, [0, t(2:N), 1]): the lowest class becomes 0, the highest 1, every other class its
// upper threshold.
#include <algorithm>
#include <cmath>

#include "training/distort/families.h"

namespace iqa::distort {

namespace {
constexpr int kBins = 256;

// Exact multi-level Otsu on a 256-bin histogram by dynamic programming: maximise the between-class
// term sum_k S_k^2 / W_k over contiguous classes of bins (O(classes * bins^2)). Returns the last bin
// of each of the first `thresholds` classes. MATLAB searches the same objective numerically.
std::vector<int> otsu_thresholds(const std::vector<double>& hist, int thresholds) {
  const int classes = thresholds + 1;
  std::vector<double> cw(kBins + 1, 0.0), cs(kBins + 1, 0.0);  // prefix sums of p and k*p
  for (int k = 0; k < kBins; ++k) cw[k + 1] = cw[k] + hist[k], cs[k + 1] = cs[k] + k * hist[k];
  auto term = [&](int a, int b) {  // bins a..b inclusive
    const double w = cw[b + 1] - cw[a], s = cs[b + 1] - cs[a];
    return w > 0 ? s * s / w : 0.0;
  };
  // best[j][b]: best value for bins 0..b split into j+1 classes; from[j][b]: start of the last class.
  std::vector<std::vector<double>> best(classes, std::vector<double>(kBins, -1.0));
  std::vector<std::vector<int>> from(classes, std::vector<int>(kBins, 0));
  for (int b = 0; b < kBins; ++b) best[0][b] = term(0, b);
  for (int j = 1; j < classes; ++j)
    for (int b = j; b < kBins; ++b)
      for (int a = j; a <= b; ++a) {  // last class is a..b
        const double v = best[j - 1][a - 1] + term(a, b);
        if (v > best[j][b]) best[j][b] = v, from[j][b] = a;
      }
  std::vector<int> ends(thresholds);
  int b = kBins - 1;
  for (int j = classes - 1; j >= 1; --j) {
    const int a = from[j][b];
    ends[j - 1] = a - 1;
    b = a - 1;
  }
  return ends;
}
}  // namespace

ImageF quantization(const ImageF& img, double thresholds, Rng&) {
  const int N = int(thresholds);
  IQA_CHECK(N >= 1 && N < kBins, "quantization: ", N, " thresholds for ", kBins, " histogram bins");
  auto [lo_it, hi_it] = std::minmax_element(img.pixels.begin(), img.pixels.end());
  const float lo = *lo_it, hi = *hi_it;
  if (!(lo < hi)) return img;
  // imhist on the range-normalised values: bin k is centred on k/255.
  std::vector<double> hist(kBins, 0.0);
  const float to_bin = float(kBins - 1) / (hi - lo);
  for (float v : img.pixels) hist[size_t(std::lround((v - lo) * to_bin))] += 1;
  const std::vector<int> ends = otsu_thresholds(hist, N);
  std::vector<float> t(N);
  for (int k = 0; k < N; ++k) t[k] = lo + float(ends[k]) / float(kBins - 1) * (hi - lo);
  // Class k (values in (t[k-1], t[k]]) gets t[k]; below t[0] -> 0; above t[N-1] -> 1.
  std::vector<float> value(N + 1);
  value[0] = 0.0f;
  for (int k = 1; k < N; ++k) value[k] = t[k];
  value[N] = 1.0f;
  ImageF out = img;
  for (float& v : out.pixels) v = value[size_t(std::lower_bound(t.begin(), t.end(), v) - t.begin())];
  return out;
}

}  // namespace iqa::distort
