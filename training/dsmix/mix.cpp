// DSMix (see dsmix_data.h and spec §7): CutMix boxes between differently distorted crops of the same
// reference, label weights from the sources' sensitivity maps over the regions they stay visible in,
// the pasting itself, and the soft targets.
//
// Counter layout under each sample's key (sample_key(batch key, 0, sample)):
//   0 box count, 16 + 4k .. 18 + 4k box k (area ratio, centre x, centre y), kShuffleBase + j partner shuffle.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "kernels/philox.h"
#include "training/image/augment_plan.h"
#include "training/dsmix/data.h"

namespace iqa::training {

namespace {

constexpr uint64_t kBoxCounterBase = 16;
constexpr uint64_t kShuffleBase = uint64_t(1) << 32;

// Source index and weight of F.interpolate(mode='bilinear', align_corners=False) along one axis: output
// o reads input (o + 0.5) * in/out - 0.5, clamped below at 0, between floor and the next input (clamped).
struct Tap {
  int i0 = 0, i1 = 0;
  double w1 = 0;  // weight of i1; i0 gets 1 - w1
};

std::vector<Tap> bilinear_taps(int in, int out) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  const double scale = double(in) / double(out);
  for (int o = 0; o < out; ++o) {
    const double src = std::max(0.0, (o + 0.5) * scale - 0.5);
    Tap& t = taps[size_t(o)];
    t.i0 = std::min(int(src), in - 1);
    t.i1 = std::min(t.i0 + 1, in - 1);
    t.w1 = src - t.i0;
  }
  return taps;
}

// Bilinear upsampling is linear and separable: S(y, x) = sum_ij Wy[y][i] m[i][j] Wx[x][j]. So the sum of
// S over rows [y0, y1) is a sum over input rows weighted by sum_{y0 <= y < y1} Wy[y][i], which a prefix
// table gives in O(in): prefix[t * in + i] = sum_{o < t} Wy[o][i].
std::vector<double> tap_prefix(int in, int out) {
  const std::vector<Tap> taps = bilinear_taps(in, out);
  std::vector<double> p(size_t(out + 1) * size_t(in), 0.0);
  for (int o = 0; o < out; ++o) {
    double* row = p.data() + size_t(o + 1) * size_t(in);
    std::copy(row - in, row, row);
    row[taps[size_t(o)].i0] += 1 - taps[size_t(o)].w1;
    row[taps[size_t(o)].i1] += taps[size_t(o)].w1;
  }
  return p;
}

// Sum of the upsampled map over [y0, y1) x [x0, x1).
double rect_sum(const double* m, int map_h, int map_w, const std::vector<double>& py, const std::vector<double>& px,
                int y0, int y1, int x0, int x1) {
  if (y0 == y1 || x0 == x1) return 0;
  const double* ay1 = py.data() + size_t(y1) * size_t(map_h);
  const double* ay0 = py.data() + size_t(y0) * size_t(map_h);
  const double* ax1 = px.data() + size_t(x1) * size_t(map_w);
  const double* ax0 = px.data() + size_t(x0) * size_t(map_w);
  double sum = 0;
  for (int i = 0; i < map_h; ++i) {
    const double wy = ay1[i] - ay0[i];
    if (wy == 0) continue;  // rows this band never reads
    double row = 0;
    for (int j = 0; j < map_w; ++j) row += m[size_t(i) * size_t(map_w) + size_t(j)] * (ax1[j] - ax0[j]);
    sum += wy * row;
  }
  return sum;
}

}  // namespace

std::vector<std::vector<DsmixBox>> draw_dsmix_boxes(const std::vector<int64_t>& group,
                                                    const std::vector<bool>& is_pristine, int h, int w,
                                                    const DsmixOptions& opts, uint64_t key) {
  IQA_CHECK(group.size() == is_pristine.size(), "draw_dsmix_boxes: ", group.size(), " groups but ",
            is_pristine.size(), " pristine flags");
  IQA_CHECK(h > 0 && w > 0, "draw_dsmix_boxes: image size ", h, "x", w);
  IQA_CHECK(opts.mix >= 1, "draw_dsmix_boxes: mix must be >= 1, got ", opts.mix);
  const size_t batch = group.size();
  std::vector<std::vector<DsmixBox>> boxes(batch);
  for (size_t i = 0; i < batch; ++i) {
    if (is_pristine[i]) continue;  // references are never mixed
    std::vector<int64_t> partners;
    for (size_t j = 0; j < batch; ++j)
      if (j != i && group[j] == group[i] && !is_pristine[j]) partners.push_back(int64_t(j));
    if (partners.empty()) continue;
    const uint64_t sub = sample_key(key, 0, i);
    const int count = opts.random_box_count ? draw_index(sub, 0, opts.mix) : opts.mix - 1;
    // Distinct partners first (partial Fisher-Yates); with fewer partners than boxes they repeat in order.
    for (int k = 0; k < std::min(count, int(partners.size())); ++k) {
      const int j = k + draw_index(sub, kShuffleBase + uint64_t(k), int(partners.size()) - k);
      std::swap(partners[size_t(k)], partners[size_t(j)]);
    }
    for (int k = 0; k < count; ++k) {
      // CutMix's rand_bbox: area ratio r ~ U(0,1), sides scaled by sqrt(r), centre uniform, clipped.
      const uint64_t c = kBoxCounterBase + 4 * uint64_t(k);
      const double cut = std::sqrt(double(philox::uniform(sub, c)));
      const int cut_w = int(w * cut), cut_h = int(h * cut);
      const int cx = draw_index(sub, c + 1, w), cy = draw_index(sub, c + 2, h);
      DsmixBox b;
      b.source = partners[size_t(k) % partners.size()];
      b.x0 = std::clamp(cx - cut_w / 2, 0, w);
      b.x1 = std::clamp(cx + cut_w / 2, 0, w);
      b.y0 = std::clamp(cy - cut_h / 2, 0, h);
      b.y1 = std::clamp(cy + cut_h / 2, 0, h);
      boxes[i].push_back(b);
    }
  }
  return boxes;
}

std::vector<DsmixWeights> dsmix_label_weights(const std::vector<std::vector<DsmixBox>>& boxes,
                                              const float* maps, int map_h, int map_w, int h, int w,
                                              const DsmixOptions& opts) {
  IQA_CHECK(map_h > 0 && map_w > 0 && h > 0 && w > 0, "dsmix_label_weights: maps ", map_h, "x", map_w,
            ", images ", h, "x", w);
  const int64_t batch = int64_t(boxes.size());
  for (int64_t i = 0; i < batch; ++i)
    for (const DsmixBox& b : boxes[size_t(i)])
      IQA_CHECK(b.source >= 0 && b.source < batch && 0 <= b.y0 && b.y0 <= b.y1 && b.y1 <= h && 0 <= b.x0 &&
                    b.x0 <= b.x1 && b.x1 <= w,
                "dsmix_label_weights: sample ", i, " has box [", b.y0, ",", b.y1, ")x[", b.x0, ",", b.x1,
                ") from source ", b.source, " outside the ", batch, "-sample batch of ", h, "x", w, " images");
  // Predicted maps may dip below 0; a sensitivity is not negative, so those values count as 0.
  const size_t map_size = size_t(map_h) * size_t(map_w);
  std::vector<double> m(size_t(batch) * map_size);
  for (size_t i = 0; i < m.size(); ++i) m[i] = std::max(0.0, double(maps[i]));
  const std::vector<double> py = tap_prefix(map_h, h), px = tap_prefix(map_w, w);
  std::vector<DsmixWeights> out(static_cast<size_t>(batch));

#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t i = 0; i < batch; ++i) {
    const std::vector<DsmixBox>& bx = boxes[size_t(i)];
    DsmixWeights& r = out[size_t(i)];
    r.source.push_back(i);
    for (const DsmixBox& b : bx) r.source.push_back(b.source);
    const size_t n = r.source.size();
    // The box edges cut the image into cells that each show one source: the last box covering the
    // cell, or the sample itself. Each cell's sum of the upsampled map is exact and cheap (rect_sum).
    std::vector<int> ys = {0, h}, xs = {0, w};
    for (const DsmixBox& b : bx) {
      ys.push_back(b.y0), ys.push_back(b.y1);
      xs.push_back(b.x0), xs.push_back(b.x1);
    }
    std::sort(ys.begin(), ys.end());
    ys.erase(std::unique(ys.begin(), ys.end()), ys.end());
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    std::vector<double> weight(n, 0.0), area(n, 0.0);
    for (size_t a = 0; a + 1 < ys.size(); ++a)
      for (size_t c = 0; c + 1 < xs.size(); ++c) {
        size_t owner = 0;
        for (size_t k = 0; k < bx.size(); ++k)
          if (bx[k].y0 <= ys[a] && ys[a] < bx[k].y1 && bx[k].x0 <= xs[c] && xs[c] < bx[k].x1) owner = k + 1;
        area[owner] += double(ys[a + 1] - ys[a]) * double(xs[c + 1] - xs[c]);
        weight[owner] += rect_sum(m.data() + size_t(r.source[owner]) * map_size, map_h, map_w, py, px, ys[a],
                                  ys[a + 1], xs[c], xs[c + 1]);
      }
    double total = 0;
    for (double v : weight) total += v;
    const bool by_area = !(total >= opts.eps);  // also catches NaN maps
    const double norm = by_area ? double(h) * double(w) : total;
    for (size_t k = 0; k < n; ++k) r.lambda.push_back((by_area ? area[k] : weight[k]) / norm);
  }
  return out;
}

Tensor apply_dsmix_boxes(const Tensor& images, const std::vector<std::vector<DsmixBox>>& boxes) {
  IQA_CHECK(images.dim() == 4 && images.size(0) == int64_t(boxes.size()), "apply_dsmix_boxes: images ",
            shape_str(images.shape()), " need shape [B, C, h, w] with B = ", boxes.size(), " box lists");
  const int64_t batch = images.size(0), h = images.size(2), w = images.size(3);
  for (int64_t i = 0; i < batch; ++i)
    for (const DsmixBox& b : boxes[size_t(i)])
      IQA_CHECK(b.source >= 0 && b.source < batch && 0 <= b.y0 && b.y0 <= b.y1 && b.y1 <= h && 0 <= b.x0 &&
                    b.x0 <= b.x1 && b.x1 <= w,
                "apply_dsmix_boxes: sample ", i, " has box [", b.y0, ",", b.y1, ")x[", b.x0, ",", b.x1,
                ") from source ", b.source, " outside images ", shape_str(images.shape()));
  NoGradGuard no_grad;
  // Boxes copy from the unmixed images, so a sample pasted into another keeps its own pixels there.
  if (!images.is_cuda()) {
    // Host: row memcpy's (the generic strided copy_ is far slower for a [110, 3, 224, 224] batch).
    const Tensor source = images.detach().contiguous();
    Tensor mixed = Tensor::empty(source.shape(), source.dtype(), source.device());
    std::memcpy(mixed.raw_data(), source.raw_data(), source.nbytes());
    const size_t es = dtype_size(source.dtype()), channels = size_t(images.size(1));
    const size_t row_bytes = size_t(w) * es, image_bytes = channels * size_t(h) * row_bytes;
    const char* src = static_cast<const char*>(source.raw_data());
    char* dst = static_cast<char*>(mixed.raw_data());
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < batch; ++i)
      for (const DsmixBox& b : boxes[size_t(i)])
        for (size_t c = 0; c < channels; ++c)
          for (int y = b.y0; y < b.y1; ++y) {
            const size_t at = c * size_t(h) * row_bytes + size_t(y) * row_bytes + size_t(b.x0) * es;
            std::memcpy(dst + size_t(i) * image_bytes + at, src + size_t(b.source) * image_bytes + at,
                        size_t(b.x1 - b.x0) * es);
          }
    return mixed;
  }
  // Device: one strided copy per box (a handful of small kernels per sample).
  const Tensor source = images.detach();
  Tensor mixed = source.clone();
  for (int64_t i = 0; i < batch; ++i)
    for (const DsmixBox& b : boxes[size_t(i)]) {
      if (b.y0 == b.y1 || b.x0 == b.x1) continue;
      mixed.select(0, i).slice(1, b.y0, b.y1).slice(2, b.x0, b.x1)
          .copy_(source.select(0, b.source).slice(1, b.y0, b.y1).slice(2, b.x0, b.x1));
    }
  return mixed;
}

Tensor dsmix_soft_targets(const std::vector<DsmixWeights>& weights, const std::vector<int>& labels, int classes) {
  IQA_CHECK(labels.size() == weights.size(), "dsmix_soft_targets: ", weights.size(), " samples but ",
            labels.size(), " labels");
  IQA_CHECK(classes > 0, "dsmix_soft_targets: classes must be positive, got ", classes);
  const size_t batch = weights.size();
  std::vector<float> t(batch * size_t(classes), 0.f);
  for (size_t i = 0; i < batch; ++i) {
    const DsmixWeights& wt = weights[i];
    IQA_CHECK(wt.source.size() == wt.lambda.size(), "dsmix_soft_targets: sample ", i, " has ", wt.source.size(),
              " sources but ", wt.lambda.size(), " weights");
    for (size_t k = 0; k < wt.source.size(); ++k) {
      IQA_CHECK(wt.source[k] >= 0 && size_t(wt.source[k]) < batch, "dsmix_soft_targets: sample ", i,
                " names source ", wt.source[k], " outside the batch of ", batch);
      const int label = labels[size_t(wt.source[k])];
      IQA_CHECK(label >= 0 && label < classes, "dsmix_soft_targets: label ", label, " of sample ", wt.source[k],
                " outside 0..", classes - 1);
      t[i * size_t(classes) + size_t(label)] += float(wt.lambda[k]);
    }
  }
  return Tensor::from_vector(t, {int64_t(batch), int64_t(classes)});
}

}  // namespace iqa::training
