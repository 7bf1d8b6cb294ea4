// Evaluation metrics of SIND (shared/spec/sind.md §5.1): Spearman's rank correlation with average
// ranks for ties and Pearson's linear correlation, both as scipy.stats computes them (spearmanr,
// pearsonr) on the raw predictions, with no logistic fit. The trainer reports |value| like the
// reference (DMOS datasets give negative correlations).
#pragma once
#include <cstdint>
#include <map>
#include <vector>

namespace iqa::training {

// Average (fractional) ranks starting at 1, ties sharing the mean of their positions (scipy rankdata).
std::vector<double> average_ranks(const std::vector<double>& v);
// Pearson's r in double precision (mean-centred, then normalised). NaN when either side is constant
// or when there are fewer than 2 values, as scipy returns nan.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Pearson's r of the average ranks.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

struct Correlation {
  double srcc = 0, plcc = 0;
  int64_t count = 0;
};
// |SRCC| and |PLCC| of predictions against scores.
Correlation correlate(const std::vector<double>& pred, const std::vector<double>& score);

struct SceneMetrics {
  Correlation overall;
  std::map<int, Correlation> per_scene;  // by domain id; scenes with < 2 images are left out
  double mean_scene_srcc = 0, mean_scene_plcc = 0;  // over scenes whose values are finite
};
SceneMetrics scene_metrics(const std::vector<double>& pred, const std::vector<double>& score,
                           const std::vector<int>& domain_ids);

// Median of a non-empty list (mean of the two middle values for an even count, as numpy.median).
double median(std::vector<double> v);
double mean(const std::vector<double>& v);

}  // namespace iqa::training
