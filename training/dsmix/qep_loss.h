// Stage 2's losses (spec §7-§8): DSMix batches with their soft targets, soft-target cross-entropy on
// the heads, and semantic distillation against a frozen teacher ResNet.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "models/dsmix.h"
#include "models/resnet.h"
#include "training/dsmix/data.h"

namespace iqa::training {

// A batch after DSMix: the mixed images and each head's soft targets.
struct MixedBatch {
  Tensor images;                         // [B, 3, h, w] on the input's device
  Tensor type_targets, level_targets;    // [B, 26], [B, 6] (two heads); undefined with a joint head
  Tensor joint_targets;                  // [B, 126] (joint head); undefined with two heads
  std::vector<std::vector<DsmixBox>> boxes;  // per sample, the boxes pasted into it
  std::vector<DsmixWeights> weights;
  int64_t mixed = 0;                     // samples that received at least one box
};

// images [B, 3, h, w] (unmixed crops); types/levels/references per sample (type 0 = pristine).
// maps: the frozen predictor's [B, map_h, map_w] sensitivity maps of the unmixed crops on the host
// (ignored when opts.mix == 1: no mixing, one-hot targets). Negative predicted values count as 0.
MixedBatch make_dsmix_batch(const Tensor& images, const std::vector<int>& types, const std::vector<int>& levels,
                            const std::vector<int64_t>& references, const std::vector<float>& maps, int map_h,
                            int map_w, const DsmixOptions& opts, bool joint, uint64_t key);

// Eq. (6) summed over the heads: CE(type) + CE(level), or CE(joint).
Tensor dsmix_ce_loss(const models::QualityEncoderOutput& out, const MixedBatch& batch);

// Eq. (7) on matching stage outputs layer1..layer4 (f32):
//   alpha * sum_i mean|F_s - F_t|  +  beta * sum_i (1 - mean over (n, y, x) of cos_c(F_s, F_t)),
// the cosine taken along channels at every spatial location and averaged (one reading of the spec's
// [?]); the norm product is clamped at 1e-8 as torch's cosine_similarity does, so all-zero (post-ReLU)
// locations give cos 0 and no NaN gradient.
struct KdTerms {
  // The unweighted sums over stages: detached 0-d f32 tensors on the features' device, so a training
  // step need not wait for them (read them where they are logged).
  Tensor mae, cosd;
};
Tensor distillation_loss(const models::ResNetFeatures& student, const models::ResNetFeatures& teacher, double alpha,
                         double beta, KdTerms* terms = nullptr);

}  // namespace iqa::training
