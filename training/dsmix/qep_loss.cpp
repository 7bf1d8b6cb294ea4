#include "training/dsmix/qep_loss.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/ops.h"

namespace iqa::training {

MixedBatch make_dsmix_batch(const Tensor& images, const std::vector<int>& types, const std::vector<int>& levels,
                            const std::vector<int64_t>& references, const std::vector<float>& maps, int map_h,
                            int map_w, const DsmixOptions& opts, bool joint, uint64_t key) {
  const int64_t b = images.size(0);
  const int h = int(images.size(2)), w = int(images.size(3));
  IQA_CHECK(int64_t(types.size()) == b && int64_t(levels.size()) == b && int64_t(references.size()) == b,
            "make_dsmix_batch: ", b, " images but ", types.size(), " types, ", levels.size(), " levels, ",
            references.size(), " references");
  MixedBatch out;
  std::vector<std::vector<DsmixBox>> boxes(static_cast<size_t>(b));
  if (opts.mix > 1) {
    IQA_CHECK(int64_t(maps.size()) == b * map_h * map_w, "make_dsmix_batch: maps hold ", maps.size(), " values, expected ",
              b, " x ", map_h, " x ", map_w);
    std::vector<bool> pristine(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) pristine[size_t(i)] = types[size_t(i)] == 0;
    boxes = draw_dsmix_boxes(references, pristine, h, w, opts, key);
    std::vector<float> clamped(maps.size());
    std::transform(maps.begin(), maps.end(), clamped.begin(), [](float v) { return std::max(v, 0.0f); });
    out.weights = dsmix_label_weights(boxes, clamped.data(), map_h, map_w, h, w, opts);
    out.images = apply_dsmix_boxes(images, boxes);
  } else {
    for (int64_t i = 0; i < b; ++i) out.weights.push_back(DsmixWeights{{i}, {1.0}});
    out.images = images;
  }
  for (const auto& bx : boxes) out.mixed += bx.empty() ? 0 : 1;
  out.boxes = std::move(boxes);
  const Device dev = images.device();
  if (joint) {
    std::vector<int> classes(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) classes[size_t(i)] = joint_class(types[size_t(i)], levels[size_t(i)]);
    out.joint_targets = dsmix_soft_targets(out.weights, classes, 126).to(dev);
  } else {
    out.type_targets = dsmix_soft_targets(out.weights, types, 26).to(dev);
    out.level_targets = dsmix_soft_targets(out.weights, levels, 6).to(dev);
  }
  return out;
}

Tensor dsmix_ce_loss(const models::QualityEncoderOutput& out, const MixedBatch& batch) {
  if (out.class_logits.defined()) {
    IQA_CHECK(batch.joint_targets.defined(), "dsmix_ce_loss: a joint head needs joint targets");
    return cross_entropy_soft(out.class_logits.to(DType::F32), batch.joint_targets);
  }
  IQA_CHECK(batch.type_targets.defined() && batch.level_targets.defined(), "dsmix_ce_loss: two heads need type and level targets");
  return add(cross_entropy_soft(out.type_logits.to(DType::F32), batch.type_targets),
             cross_entropy_soft(out.level_logits.to(DType::F32), batch.level_targets));
}

Tensor distillation_loss(const models::ResNetFeatures& student, const models::ResNetFeatures& teacher, double alpha,
                         double beta, KdTerms* terms) {
  const Tensor* s[4] = {&student.layer1, &student.layer2, &student.layer3, &student.layer4};
  const Tensor* t[4] = {&teacher.layer1, &teacher.layer2, &teacher.layer3, &teacher.layer4};
  Tensor mae_sum, cosd_sum;
  for (int i = 0; i < 4; ++i) {
    IQA_CHECK(s[i]->shape() == t[i]->shape(), "distillation_loss: stage ", i + 1, " student ", s[i]->str(),
              " and teacher ", t[i]->str(), " differ");
    const Tensor a = s[i]->to(DType::F32), b = t[i]->to(DType::F32).detach();
    const Tensor mae = mean(abs(sub(a, b)));
    const Tensor dot = sum(mul(a, b), {1});
    const Tensor norms = mul(sum(mul(a, a), {1}), sum(mul(b, b), {1}));
    const Tensor cosd = add(neg(mean(mul(dot, rsqrt(clamp(norms, 1e-16, std::nullopt))))), 1.0);
    mae_sum = mae_sum.defined() ? add(mae_sum, mae) : mae;
    cosd_sum = cosd_sum.defined() ? add(cosd_sum, cosd) : cosd;
  }
  if (terms) {
    terms->mae = mae_sum.detach();
    terms->cosd = cosd_sum.detach();
  }
  return add(mul(mae_sum, alpha), mul(cosd_sum, beta));
}

}  // namespace iqa::training
