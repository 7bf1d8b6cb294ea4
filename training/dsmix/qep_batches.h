// Stage 2's batches (spec §8): every training sample exactly once per epoch, no padding, and a
// reference's samples in chunks of at most images_per_reference next to each other, so a sample's
// DSMix partners (same reference, other distortions) mostly share its batch. SceneSampler pads each
// reference up to a multiple of the chunk (KADIS' six samples per reference became ten with chunk 5:
// four duplicates per reference and an epoch 1.67x the spec's); this sampler does not.
#pragma once
#include <cstdint>
#include <vector>

#include "training/data/scene_sampler.h"

namespace iqa::training {

struct QepBatchOptions {
  int chunk_size = 6;   // at most this many samples of one reference side by side (6: all of a KADIS reference)
  int batch_size = 110;
  int world_size = 1;
  int rank = 0;
  uint64_t seed = 0;
};

class QepBatchSampler {
 public:
  // references[i]: the reference content of training sample i.
  QepBatchSampler(const std::vector<int>& references, const QepBatchOptions& opts);

  // Per reference (increasing id) its samples shuffled and cut into chunks of chunk_size (the last
  // one shorter); the chunks shuffled together and flattened. Draws in that sequence from `rng`.
  std::vector<int64_t> epoch_order(IndexRandom& rng) const;
  std::vector<int64_t> epoch_order(uint64_t epoch) const;  // SeededIndexRandom(seed, epoch)
  // This rank's drop_last batches of batch_size (shard_batches).
  std::vector<SampledBatch> epoch_batches(uint64_t epoch) const;
  int64_t batches_per_rank() const;  // floor(floor(samples / batch_size) / world_size)

 private:
  QepBatchOptions opts_;
  int64_t samples_ = 0;
  std::vector<std::vector<int64_t>> by_reference_;  // sample indices of each reference, increasing
};

}  // namespace iqa::training
