// CPU reference of the scale-shift loss (see kernels/scale_shift_loss.h for the math). Readable rather
// than fast: groups are collected in order of first appearance, each side normalised on its own.
#include "kernels/scale_shift_loss.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/scalar_io.h"
#include "kernels/error.h"

namespace iqa::kernels::cpu {
namespace {

double sign_of(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

// One side (prediction or MOS) of one group, normalised with its lower median and mean absolute
// deviation.
struct NormalizedSide {
  double median = 0;  // t
  double scale = 0;   // S = s + eps
  std::vector<double> deviation;   // d_i = x_i - t
  std::vector<double> normalized;  // x̂_i = d_i / S
  int ties = 0;                    // r: elements equal to the median value (they share its gradient)
  double sign_sum = 0;             // sum_k sign(d_k)
  bool identity = false;           // SceneLossNorm::None: x̂ = x
};

// norm None: the identity, whose backward passes c through unchanged.
NormalizedSide normalize(const std::vector<double>& x, double eps, SceneLossNorm norm) {
  const size_t n = x.size();
  if (norm == SceneLossNorm::None) {
    NormalizedSide s;
    s.scale = 1;
    s.normalized = x;
    s.identity = true;
    return s;
  }
  std::vector<double> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  NormalizedSide s;
  s.median = sorted[(n - 1) / 2];  // torch.median: the lower of the two middle values
  double abs_sum = 0;
  for (double v : x) {
    const double d = v - s.median;
    s.deviation.push_back(d);
    abs_sum += std::fabs(d);
    s.sign_sum += sign_of(d);
    if (v == s.median) ++s.ties;
  }
  s.scale = abs_sum / double(n) + eps;
  for (double d : s.deviation) s.normalized.push_back(d / s.scale);
  return s;
}

// dL/dx from dL/dx̂ = c through the normalisation (the formula in the header).
std::vector<double> normalize_backward(const NormalizedSide& s, const std::vector<double>& c) {
  const size_t n = c.size();
  double c_sum = 0, c_dot_xhat = 0;
  for (size_t i = 0; i < n; ++i) c_sum += c[i], c_dot_xhat += c[i] * s.normalized[i];
  std::vector<double> grad(n);
  if (s.identity) return c;
  for (size_t j = 0; j < n; ++j) {
    const bool is_median = s.deviation[j] == 0;  // x_j equals the median value exactly
    const double dscale = (sign_of(s.deviation[j]) - (is_median ? s.sign_sum / s.ties : 0.0)) / double(n);
    grad[j] = (c[j] - (is_median ? c_sum / s.ties : 0.0)) / s.scale - (c_dot_xhat / s.scale) * dscale;
  }
  return grad;
}

}  // namespace

void scale_shift_loss(DType dtype, const void* pred, const void* mos, const int64_t* scene_ids, int64_t n,
                      double eps, void* loss, void* grad_pred, void* grad_mos, SceneLossNorm norm) {
  IQA_CHECK(dtype == DType::F32 || dtype == DType::F64, "scale_shift_loss (cpu): dtype ", dtype_name(dtype),
            " (f32 or f64 expected)");
  IQA_CHECK(n > 0, "scale_shift_loss (cpu): empty batch");
  // Members of each scene, scenes in order of first appearance.
  std::vector<std::vector<int64_t>> groups;
  std::unordered_map<int64_t, size_t> group_of_scene;
  for (int64_t i = 0; i < n; ++i) {
    auto [it, inserted] = group_of_scene.emplace(scene_ids[i], groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  const double inv_groups = 1.0 / double(groups.size());
  double total = 0;
  for (const auto& members : groups) {
    const size_t m = members.size();
    std::vector<double> p(m), g(m);
    for (size_t k = 0; k < m; ++k) {
      p[k] = load_as_double(pred, dtype, members[k]);
      g[k] = load_as_double(mos, dtype, members[k]);
    }
    const NormalizedSide np = normalize(p, eps, norm), ng = normalize(g, eps, norm);
    double l1 = 0;
    std::vector<double> c_pred(m), c_mos(m);
    for (size_t k = 0; k < m; ++k) {
      const double diff = np.normalized[k] - ng.normalized[k];
      l1 += std::fabs(diff);
      c_pred[k] = sign_of(diff) / double(m);
      c_mos[k] = -c_pred[k];
    }
    total += l1 / double(m);
    if (grad_pred) {
      const std::vector<double> gp = normalize_backward(np, c_pred);
      for (size_t k = 0; k < m; ++k) store_from_double(grad_pred, dtype, members[k], gp[k] * inv_groups);
    }
    if (grad_mos) {
      const std::vector<double> gm = normalize_backward(ng, c_mos);
      for (size_t k = 0; k < m; ++k) store_from_double(grad_mos, dtype, members[k], gm[k] * inv_groups);
    }
  }
  store_from_double(loss, dtype, 0, total * inv_groups);
}

}  // namespace iqa::kernels::cpu
