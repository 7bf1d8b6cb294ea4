#include "training/dsmix/qep_batches.h"

#include <algorithm>
#include <map>

#include "engine/error.h"

namespace iqa::training {

QepBatchSampler::QepBatchSampler(const std::vector<int>& references, int chunk_size, const ShuffledSamplerOptions& opts)
    : chunk_size_(chunk_size), opts_(opts), samples_(int64_t(references.size())) {
  IQA_CHECK(chunk_size >= 1 && opts.batch_size >= 1, "QepBatchSampler: chunk size ", chunk_size,
            " and batch size ", opts.batch_size, " must be positive");
  IQA_CHECK(opts.world_size >= 1 && opts.rank >= 0 && opts.rank < opts.world_size, "QepBatchSampler: rank ", opts.rank,
            " of world size ", opts.world_size);
  IQA_CHECK(!references.empty(), "QepBatchSampler: no samples");
  std::map<int, std::vector<int64_t>> groups;
  for (size_t i = 0; i < references.size(); ++i) groups[references[i]].push_back(int64_t(i));
  for (auto& [ref, members] : groups) by_reference_.push_back(std::move(members));
}

std::vector<int64_t> QepBatchSampler::epoch_order(IndexRandom& rng) const {
  const size_t n = size_t(chunk_size_);
  std::vector<std::vector<int64_t>> chunks;
  for (const auto& members : by_reference_) {
    std::vector<int64_t> idx = members;
    shuffle_indices(idx, rng);
    for (size_t c = 0; c < idx.size(); c += n)
      chunks.emplace_back(idx.begin() + int64_t(c), idx.begin() + int64_t(std::min(idx.size(), c + n)));
  }
  std::vector<int64_t> chunk_order(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) chunk_order[c] = int64_t(c);
  shuffle_indices(chunk_order, rng);
  std::vector<int64_t> order;
  order.reserve(size_t(samples_));
  for (int64_t c : chunk_order) order.insert(order.end(), chunks[size_t(c)].begin(), chunks[size_t(c)].end());
  return order;
}

std::vector<SampledBatch> QepBatchSampler::epoch_batches(uint64_t epoch) const {
  SeededIndexRandom rng(opts_.seed, epoch);  // the same (seed, epoch) stream on every rank
  return shard_batches(epoch_order(rng), opts_.batch_size, opts_.world_size, opts_.rank);
}

}  // namespace iqa::training
