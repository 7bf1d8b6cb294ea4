#include "training/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/error.h"

namespace iqa::training {

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    // Positions i..j (0-based) share the mean of ranks i+1..j+1.
    const double r = 0.5 * double(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  IQA_CHECK(x.size() == y.size(), "pearson: ", x.size(), " predictions but ", y.size(), " scores");
  const size_t n = x.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mx = mean(x), my = mean(y);
  // scipy normalises the centred vectors before the dot product, which keeps r within [-1, 1].
  double nx = 0, ny = 0;
  for (size_t i = 0; i < n; ++i) {
    nx += (x[i] - mx) * (x[i] - mx);
    ny += (y[i] - my) * (y[i] - my);
  }
  nx = std::sqrt(nx);
  ny = std::sqrt(ny);
  if (nx == 0 || ny == 0) return std::numeric_limits<double>::quiet_NaN();
  double r = 0;
  for (size_t i = 0; i < n; ++i) r += ((x[i] - mx) / nx) * ((y[i] - my) / ny);
  return std::clamp(r, -1.0, 1.0);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  IQA_CHECK(x.size() == y.size(), "spearman: ", x.size(), " predictions but ", y.size(), " scores");
  return pearson(average_ranks(x), average_ranks(y));
}

Correlation correlate(const std::vector<double>& pred, const std::vector<double>& score) {
  return Correlation{std::abs(spearman(pred, score)), std::abs(pearson(pred, score)), int64_t(pred.size())};
}

SceneMetrics scene_metrics(const std::vector<double>& pred, const std::vector<double>& score,
                           const std::vector<int>& domain_ids) {
  IQA_CHECK(pred.size() == domain_ids.size(), "scene_metrics: ", pred.size(), " predictions but ",
            domain_ids.size(), " domain ids");
  SceneMetrics m;
  m.overall = correlate(pred, score);
  std::map<int, std::pair<std::vector<double>, std::vector<double>>> groups;
  for (size_t i = 0; i < pred.size(); ++i) {
    groups[domain_ids[i]].first.push_back(pred[i]);
    groups[domain_ids[i]].second.push_back(score[i]);
  }
  std::vector<double> srccs, plccs;
  for (const auto& [id, g] : groups) {
    if (g.first.size() < 2) continue;
    const Correlation c = correlate(g.first, g.second);
    m.per_scene[id] = c;
    if (std::isfinite(c.srcc)) srccs.push_back(c.srcc);
    if (std::isfinite(c.plcc)) plccs.push_back(c.plcc);
  }
  m.mean_scene_srcc = srccs.empty() ? std::numeric_limits<double>::quiet_NaN() : mean(srccs);
  m.mean_scene_plcc = plccs.empty() ? std::numeric_limits<double>::quiet_NaN() : mean(plccs);
  return m;
}

double median(std::vector<double> v) {
  IQA_CHECK(!v.empty(), "median: empty list");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mean(const std::vector<double>& v) {
  IQA_CHECK(!v.empty(), "mean: empty list");
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

}  // namespace iqa::training
