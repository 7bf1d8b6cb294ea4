// Training samplers: SIND's SceneSampler (shared/spec/sind.md §3) and a plain shuffled sampler. Both
// turn (seed, epoch) into the epoch's batches of dataset indices for one rank, deterministically: the
// same seed and epoch give the same batches on every machine, whatever the thread count.
#pragma once
#include <cstdint>
#include <vector>

namespace iqa {

// Uniform integers for the samplers. Virtual so tests can script the draws and check hand-worked orders.
class IndexRandom {
 public:
  virtual ~IndexRandom() = default;
  // Uniform in [0, n), n >= 1.
  virtual uint64_t below(uint64_t n) = 0;
};

// The samplers' default source: a splitmix64 stream from (seed, epoch), unbiased by rejection.
class SeededIndexRandom final : public IndexRandom {
 public:
  SeededIndexRandom(uint64_t seed, uint64_t epoch);
  uint64_t below(uint64_t n) override;

 private:
  uint64_t next64();
  uint64_t state_;
};

// Fisher-Yates from the back: for i = size-1 down to 1, swap v[i] with v[below(i+1)] (Python's
// random.shuffle order of draws).
void shuffle_indices(std::vector<int64_t>& v, IndexRandom& rng);

// A batch of dataset indices. `number` is the batch's position in the epoch before sharding, so it is
// the same on every rank (the loader keys augmentation draws on it).
struct SampledBatch {
  int64_t number = 0;
  std::vector<int64_t> indices;
  bool operator==(const SampledBatch&) const = default;
};

// Cuts `order` into consecutive batches of batch_size, dropping a short tail (drop_last), and gives
// batch b to rank b % world_size, keeping only complete rounds so every rank gets floor(B / W) batches
// (HF Accelerate's BatchSamplerShard with a drop_last batch sampler, which SIND's runs used).
std::vector<SampledBatch> shard_batches(const std::vector<int64_t>& order, int batch_size, int world_size, int rank);

struct SceneSamplerOptions {
  int chunk_size = 32;        // n: images of one scene per chunk
  int chunks_per_batch = 2;   // k: a batch is k consecutive chunks (per GPU)
  int world_size = 1;
  int rank = 0;
  uint64_t seed = 0;
};

// Per epoch: for every scene (distinct domain id, increasing), its indices are padded to a multiple
// of n by appending random picks from the (growing) list, shuffled, and cut into chunks of n; then all
// chunks of all scenes are shuffled together and flattened. Batches of k*n follow from shard_batches.
class SceneSampler {
 public:
  SceneSampler(const std::vector<int>& domain_ids, const SceneSamplerOptions& opts);

  // The flattened epoch order over all ranks, drawing from `rng` in this sequence: per scene (in
  // increasing id) its padding picks then its shuffle; then the shuffle of the chunk list.
  std::vector<int64_t> epoch_order(IndexRandom& rng) const;
  std::vector<int64_t> epoch_order(uint64_t epoch) const;  // SeededIndexRandom(seed, epoch)
  // This rank's batches for the epoch.
  std::vector<SampledBatch> epoch_batches(uint64_t epoch) const;

  int batch_size() const { return opts_.chunk_size * opts_.chunks_per_batch; }
  int64_t padded_length() const;            // sum over scenes of ceil(|scene| / n) * n
  int64_t batches_per_epoch() const;        // all ranks: floor(padded_length / batch_size)
  int64_t batches_per_rank() const;         // floor(batches_per_epoch / world_size)
  const std::vector<int>& scenes() const { return scene_ids_; }

 private:
  SceneSamplerOptions opts_;
  std::vector<int> scene_ids_;                       // increasing
  std::vector<std::vector<int64_t>> scene_indices_;  // dataset indices of each scene, increasing
};

struct ShuffledSamplerOptions {
  int batch_size = 64;
  int world_size = 1;
  int rank = 0;
  uint64_t seed = 0;
};

// An ordinary shuffled DataLoader: a random permutation of 0..size-1 per epoch, drop_last batches.
class ShuffledSampler {
 public:
  ShuffledSampler(int64_t size, const ShuffledSamplerOptions& opts);
  std::vector<int64_t> epoch_order(IndexRandom& rng) const;
  std::vector<int64_t> epoch_order(uint64_t epoch) const;
  std::vector<SampledBatch> epoch_batches(uint64_t epoch) const;
  int64_t batches_per_rank() const;

 private:
  int64_t size_;
  ShuffledSamplerOptions opts_;
};

}  // namespace iqa
