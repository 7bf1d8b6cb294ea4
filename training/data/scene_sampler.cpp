// SceneSampler and ShuffledSampler (see scene_sampler.h).
#include "training/data/scene_sampler.h"

#include <algorithm>
#include <map>

#include "engine/error.h"

namespace iqa {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void check_shard(int world_size, int rank, const char* who) {
  IQA_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, who, ": rank ", rank, " outside world of size ",
            world_size);
}

}  // namespace

SeededIndexRandom::SeededIndexRandom(uint64_t seed, uint64_t epoch) {
  // Decorrelate nearby (seed, epoch) pairs before using the result as the stream's start.
  uint64_t s = seed;
  uint64_t a = splitmix64(s);
  s = a ^ (epoch * 0xD1B54A32D192ED03ull);
  state_ = splitmix64(s);
}

uint64_t SeededIndexRandom::next64() { return splitmix64(state_); }

uint64_t SeededIndexRandom::below(uint64_t n) {
  IQA_CHECK(n >= 1, "SeededIndexRandom::below: empty range");
  // Lemire's multiply-shift with rejection of the biased low region: exact and platform independent.
  unsigned __int128 m = (unsigned __int128)next64() * n;
  uint64_t low = uint64_t(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = (unsigned __int128)next64() * n;
      low = uint64_t(m);
    }
  }
  return uint64_t(m >> 64);
}

void shuffle_indices(std::vector<int64_t>& v, IndexRandom& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    size_t j = size_t(rng.below(i));
    std::swap(v[i - 1], v[j]);
  }
}

std::vector<SampledBatch> shard_batches(const std::vector<int64_t>& order, int batch_size, int world_size,
                                        int rank) {
  IQA_CHECK(batch_size >= 1, "shard_batches: batch size ", batch_size, " must be positive");
  check_shard(world_size, rank, "shard_batches");
  const int64_t total = int64_t(order.size()) / batch_size;
  const int64_t per_rank = total / world_size;
  std::vector<SampledBatch> out;
  out.reserve(size_t(per_rank));
  for (int64_t r = 0; r < per_rank; ++r) {
    SampledBatch b;
    b.number = r * world_size + rank;
    auto first = order.begin() + b.number * batch_size;
    b.indices.assign(first, first + batch_size);
    out.push_back(std::move(b));
  }
  return out;
}

// ---- SceneSampler -------------------------------------------------------------------------------------

SceneSampler::SceneSampler(const std::vector<int>& domain_ids, const SceneSamplerOptions& opts) : opts_(opts) {
  IQA_CHECK(opts.chunk_size >= 1 && opts.chunks_per_batch >= 1, "SceneSampler: chunk size ", opts.chunk_size,
            " and chunks per batch ", opts.chunks_per_batch, " must be positive");
  check_shard(opts.world_size, opts.rank, "SceneSampler");
  IQA_CHECK(!domain_ids.empty(), "SceneSampler: no samples");
  std::map<int, std::vector<int64_t>> by_scene;
  for (size_t i = 0; i < domain_ids.size(); ++i) by_scene[domain_ids[i]].push_back(int64_t(i));
  for (auto& [id, idx] : by_scene) {
    scene_ids_.push_back(id);
    scene_indices_.push_back(std::move(idx));
  }
}

int64_t SceneSampler::padded_length() const {
  const int64_t n = opts_.chunk_size;
  int64_t total = 0;
  for (const auto& idx : scene_indices_) total += (int64_t(idx.size()) + n - 1) / n * n;
  return total;
}

int64_t SceneSampler::batches_per_epoch() const { return padded_length() / batch_size(); }
int64_t SceneSampler::batches_per_rank() const { return batches_per_epoch() / opts_.world_size; }

std::vector<int64_t> SceneSampler::epoch_order(IndexRandom& rng) const {
  const size_t n = size_t(opts_.chunk_size);
  std::vector<std::vector<int64_t>> chunks;
  for (const auto& members : scene_indices_) {
    std::vector<int64_t> idx = members;
    while (idx.size() % n != 0) idx.push_back(idx[size_t(rng.below(idx.size()))]);
    shuffle_indices(idx, rng);
    for (size_t c = 0; c < idx.size(); c += n) chunks.emplace_back(idx.begin() + c, idx.begin() + c + n);
  }
  // Shuffle chunk positions with the same Fisher-Yates draws as shuffle_indices.
  std::vector<int64_t> chunk_order(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) chunk_order[c] = int64_t(c);
  shuffle_indices(chunk_order, rng);
  std::vector<int64_t> order;
  order.reserve(chunks.size() * n);
  for (int64_t c : chunk_order) order.insert(order.end(), chunks[size_t(c)].begin(), chunks[size_t(c)].end());
  return order;
}

std::vector<int64_t> SceneSampler::epoch_order(uint64_t epoch) const {
  SeededIndexRandom rng(opts_.seed, epoch);
  return epoch_order(rng);
}

std::vector<SampledBatch> SceneSampler::epoch_batches(uint64_t epoch) const {
  return shard_batches(epoch_order(epoch), batch_size(), opts_.world_size, opts_.rank);
}

// ---- ShuffledSampler ----------------------------------------------------------------------------------

ShuffledSampler::ShuffledSampler(int64_t size, const ShuffledSamplerOptions& opts) : size_(size), opts_(opts) {
  IQA_CHECK(size >= 1, "ShuffledSampler: no samples");
  IQA_CHECK(opts.batch_size >= 1, "ShuffledSampler: batch size ", opts.batch_size, " must be positive");
  check_shard(opts.world_size, opts.rank, "ShuffledSampler");
}

std::vector<int64_t> ShuffledSampler::epoch_order(IndexRandom& rng) const {
  std::vector<int64_t> order(static_cast<size_t>(size_));
  for (int64_t i = 0; i < size_; ++i) order[size_t(i)] = i;
  shuffle_indices(order, rng);
  return order;
}

std::vector<int64_t> ShuffledSampler::epoch_order(uint64_t epoch) const {
  SeededIndexRandom rng(opts_.seed, epoch);
  return epoch_order(rng);
}

std::vector<SampledBatch> ShuffledSampler::epoch_batches(uint64_t epoch) const {
  return shard_batches(epoch_order(epoch), opts_.batch_size, opts_.world_size, opts_.rank);
}

int64_t ShuffledSampler::batches_per_rank() const { return size_ / opts_.batch_size / opts_.world_size; }

}  // namespace iqa
