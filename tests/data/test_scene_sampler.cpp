// SceneSampler and ShuffledSampler: hand-worked orders under scripted draws, then properties of the
// seeded sampler (scene purity of chunks, coverage, padding, determinism, sharding).
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "engine/error.h"
#include "training/data/scene_sampler.h"

using namespace iqa;

namespace {

// Returns the scripted values in turn and records the range each draw was asked for.
struct ScriptedRandom final : IndexRandom {
  std::deque<uint64_t> values;
  std::vector<uint64_t> ranges;
  explicit ScriptedRandom(std::vector<uint64_t> v) : values(v.begin(), v.end()) {}
  uint64_t below(uint64_t n) override {
    REQUIRE(!values.empty());
    uint64_t v = values.front();
    values.pop_front();
    REQUIRE(v < n);
    ranges.push_back(n);
    return v;
  }
};

}  // namespace

TEST_CASE("shuffle_indices is Fisher-Yates from the back", "[data][sampler]") {
  std::vector<int64_t> v = {10, 11, 12, 13};
  ScriptedRandom rng({3, 0, 1});  // i=3: swap(3,3); i=2: swap(2,0); i=1: swap(1,1)
  shuffle_indices(v, rng);
  CHECK(v == std::vector<int64_t>{12, 11, 10, 13});
  CHECK(rng.ranges == std::vector<uint64_t>{4, 3, 2});
}

TEST_CASE("SceneSampler hand-worked epoch with padding and chunk shuffle", "[data][sampler]") {
  // Scene 5 holds indices {0, 2, 3}, scene 7 holds {1, 4}; chunks of n = 2.
  const std::vector<int> domains = {5, 7, 5, 5, 7};
  SceneSamplerOptions o;
  o.chunk_size = 2;
  o.chunks_per_batch = 1;
  SceneSampler sampler(domains, o);
  CHECK(sampler.scenes() == std::vector<int>{5, 7});
  CHECK(sampler.padded_length() == 6);
  CHECK(sampler.batches_per_epoch() == 3);

  // Scene 5: pad pick below(3) = 1 -> [0,2,3,2]; shuffle draws 0,2,1 -> [2,2,3,0]; chunks [2,2] [3,0].
  // Scene 7: no padding; shuffle draw 0 -> [4,1]; chunk [4,1].
  // Chunk order [0,1,2], draws 0,0 -> [2,1,0] -> [1,2,0]: chunks [3,0] [4,1] [2,2].
  ScriptedRandom rng({1, 0, 2, 1, 0, 0, 0});
  std::vector<int64_t> order = sampler.epoch_order(rng);
  CHECK(order == std::vector<int64_t>{3, 0, 4, 1, 2, 2});
  CHECK(rng.ranges == std::vector<uint64_t>{3, 4, 3, 2, 2, 3, 2});
  CHECK(rng.values.empty());

  // k = 1: batch b is chunk b; two ranks take batches 0 and 1, the incomplete round (batch 2) is dropped.
  std::vector<SampledBatch> r0 = shard_batches(order, 2, 2, 0), r1 = shard_batches(order, 2, 2, 1);
  REQUIRE(r0.size() == 1);
  REQUIRE(r1.size() == 1);
  CHECK(r0[0] == SampledBatch{0, {3, 0}});
  CHECK(r1[0] == SampledBatch{1, {4, 1}});
  // One rank, batches of two chunks: one batch, the last chunk dropped (drop_last).
  std::vector<SampledBatch> k2 = shard_batches(order, 4, 1, 0);
  REQUIRE(k2.size() == 1);
  CHECK(k2[0] == SampledBatch{0, {3, 0, 4, 1}});
}

TEST_CASE("ShuffledSampler hand-worked epoch", "[data][sampler]") {
  ShuffledSamplerOptions o;
  o.batch_size = 3;
  ShuffledSampler sampler(4, o);
  ScriptedRandom rng({3, 0, 1});
  std::vector<int64_t> order = sampler.epoch_order(rng);
  CHECK(order == std::vector<int64_t>{2, 1, 0, 3});
  std::vector<SampledBatch> b = shard_batches(order, 3, 1, 0);
  REQUIRE(b.size() == 1);
  CHECK(b[0].indices == std::vector<int64_t>{2, 1, 0});
  CHECK(sampler.batches_per_rank() == 1);
}

TEST_CASE("SeededIndexRandom is in range, reproducible and roughly uniform", "[data][sampler]") {
  SeededIndexRandom a(7, 3), b(7, 3), c(7, 4);
  std::vector<int> counts(3, 0);
  bool differs = false;
  for (int i = 0; i < 30000; ++i) {
    uint64_t x = a.below(3);
    REQUIRE(x < 3);
    CHECK(b.below(3) == x);
    differs |= c.below(3) != x;
    ++counts[size_t(x)];
  }
  CHECK(differs);
  for (int k : counts) CHECK(std::abs(k - 10000) < 500);  // ~5 sigma
}

TEST_CASE("SceneSampler seeded epochs: chunks are single-scene, cover every image, shard cleanly",
          "[data][sampler]") {
  // 3 scenes (two interleaved), n = 8, k = 2.
  std::vector<int> domains;
  for (int i = 0; i < 106; ++i) domains.push_back(i < 74 ? (i % 2 ? 101 : 104) : 107);
  // domains: 101 x37, 104 x37, 107 x32 -> padded 40 + 40 + 32 = 112
  SceneSamplerOptions o;
  o.chunk_size = 8;
  o.chunks_per_batch = 2;
  o.seed = 42;
  SceneSampler sampler(domains, o);
  REQUIRE(sampler.padded_length() == 112);
  REQUIRE(sampler.batches_per_epoch() == 7);

  std::vector<int64_t> order = sampler.epoch_order(uint64_t(3));
  REQUIRE(order.size() == 112);
  CHECK(order == sampler.epoch_order(uint64_t(3)));
  CHECK(order != sampler.epoch_order(uint64_t(4)));
  std::map<int, int> per_scene;
  std::set<int64_t> seen;
  for (size_t c = 0; c < order.size(); c += 8) {
    const int scene = domains[size_t(order[c])];
    for (size_t j = c; j < c + 8; ++j) CHECK(domains[size_t(order[j])] == scene);
    per_scene[scene] += 8;
  }
  for (int64_t i : order) seen.insert(i);
  CHECK(seen.size() == 106);  // padding only repeats, never drops
  CHECK(per_scene == std::map<int, int>{{101, 40}, {104, 40}, {107, 32}});

  // Three ranks: 7 batches -> 2 rounds of 3; rank r gets global batches r and r + 3.
  std::vector<SampledBatch> all;
  for (int r = 0; r < 3; ++r) {
    SceneSamplerOptions ro = o;
    ro.world_size = 3;
    ro.rank = r;
    SceneSampler rs(domains, ro);
    std::vector<SampledBatch> mine = rs.epoch_batches(3);
    REQUIRE(mine.size() == 2);
    CHECK(rs.batches_per_rank() == 2);
    CHECK(mine[0].number == r);
    CHECK(mine[1].number == r + 3);
    for (size_t k = 0; k < mine.size(); ++k)
      CHECK(mine[k].indices ==
            std::vector<int64_t>(order.begin() + mine[k].number * 16, order.begin() + mine[k].number * 16 + 16));
  }
}

TEST_CASE("Samplers reject bad options", "[data][sampler]") {
  SceneSamplerOptions o;
  o.world_size = 2;
  o.rank = 2;
  CHECK_THROWS_WITH(SceneSampler({1, 2}, o), Catch::Contains("rank 2"));
  CHECK_THROWS_AS(SceneSampler({}, SceneSamplerOptions{}), iqa::Error);
  ShuffledSamplerOptions so;
  so.batch_size = 0;
  CHECK_THROWS_AS(ShuffledSampler(4, so), iqa::Error);
}
