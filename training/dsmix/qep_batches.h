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

class QepBatchSampler {
 public:
  // references[i]: the reference content of training sample i; at most chunk_size samples of one
  // reference side by side (6: all of a KADIS reference); batches of opts.batch_size per rank.
  QepBatchSampler(const std::vector<int>& references, int chunk_size, const ShuffledSamplerOptions& opts);

  // Per reference (increasing id) its samples shuffled and cut into chunks of chunk_size (the last
  // one shorter); the chunks shuffled together and flattened. Draws in that sequence from `rng`.
  std::vector<int64_t> epoch_order(IndexRandom& rng) const;
  // This rank's drop_last batches of batch_size (shard_batches) of the order SeededIndexRandom(seed,
  // epoch) draws.
  std::vector<SampledBatch> epoch_batches(uint64_t epoch) const;
  // floor(floor(samples / batch_size) / world_size)
  int64_t batches_per_rank() const { return samples_ / opts_.batch_size / opts_.world_size; }

 private:
  int chunk_size_;
  ShuffledSamplerOptions opts_;
  int64_t samples_ = 0;
  std::vector<std::vector<int64_t>> by_reference_;  // sample indices of each reference, increasing
};

}  // namespace iqa::training
