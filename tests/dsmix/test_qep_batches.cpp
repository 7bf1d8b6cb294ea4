// Stage 2's batch composition (QepBatchSampler): KADIS-like references of six samples (five levels +
// pristine), every sample exactly once per epoch, chunks of one reference side by side, the epoch as
// long as the spec's (samples / batch), and the --holdout 0 split.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "tests/testing.h"
#include "training/dsmix/common.h"
#include "training/dsmix/config.h"
#include "training/dsmix/qep_batches.h"

using namespace iqa;
using namespace iqa::training;
using Catch::Matchers::Contains;

namespace {

// 20 references x 6 samples; sample i belongs to reference i / 6.
std::vector<int64_t> order_of(const QepBatchSampler& s, uint64_t epoch) {
  SeededIndexRandom rng(7, epoch);  // the samplers' seed below
  return s.epoch_order(rng);
}

std::vector<int> kadis_like_references() {
  std::vector<int> refs;
  for (int r = 0; r < 20; ++r)
    for (int k = 0; k < 6; ++k) refs.push_back(r);
  return refs;
}

}  // namespace

TEST_CASE("QEP batches: distinct samples with whole references side by side and a spec-length epoch", "[dsmix][qep]") {
  const std::vector<int> refs = kadis_like_references();
  const QepBatchSampler sampler(refs, 6, ShuffledSamplerOptions{30, 1, 0, 7});
  CHECK(sampler.batches_per_rank() == 4);  // 120 / 30; SceneSampler's chunk-5 padding gave 240 / 30 = 8
  for (uint64_t epoch : {0u, 1u}) {
    const std::vector<int64_t> order = order_of(sampler, epoch);
    REQUIRE(order.size() == 120);
    CHECK(std::set<int64_t>(order.begin(), order.end()).size() == 120);  // each sample exactly once
    // Chunk 6 = all of a reference: the order is 20 runs of 6 same-reference samples.
    for (size_t i = 0; i < order.size(); i += 6)
      for (size_t k = 1; k < 6; ++k) REQUIRE(refs[size_t(order[i + k])] == refs[size_t(order[i])]);
    const std::vector<SampledBatch> batches = sampler.epoch_batches(epoch);
    REQUIRE(batches.size() == 4);
    for (const SampledBatch& b : batches) {
      REQUIRE(b.indices.size() == 30);
      CHECK(std::set<int64_t>(b.indices.begin(), b.indices.end()).size() == 30);  // no duplicate in a batch
      std::map<int, int> per_ref;
      for (int64_t i : b.indices) ++per_ref[refs[size_t(i)]];
      CHECK(per_ref.size() == 5);  // 30 = 5 whole references
      for (const auto& [r, n] : per_ref) CHECK(n == 6);
    }
  }
  CHECK(order_of(sampler, 0) != order_of(sampler, 1));
  CHECK(sampler.epoch_batches(1) == QepBatchSampler(refs, 6, ShuffledSamplerOptions{30, 1, 0, 7}).epoch_batches(1));
  const std::vector<int64_t> first = order_of(sampler, 0);
  CHECK(sampler.epoch_batches(0)[0].indices == std::vector<int64_t>(first.begin(), first.begin() + 30));

  // Chunks of 4: a reference's six samples become runs of 4 and 2; still every sample once.
  const QepBatchSampler fours(refs, 4, ShuffledSamplerOptions{24, 1, 0, 7});
  const std::vector<int64_t> order = order_of(fours, 0);
  CHECK(std::set<int64_t>(order.begin(), order.end()).size() == 120);
  std::map<int, std::vector<int>> runs;  // reference -> its run lengths
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && refs[size_t(order[j])] == refs[size_t(order[i])]) ++j;
    runs[refs[size_t(order[i])]].push_back(int(j - i));
    i = j;
  }
  for (auto& [r, lengths] : runs) {
    std::sort(lengths.begin(), lengths.end());
    // Two chunks of the same reference may land next to each other and read as one run of 6.
    CHECK((lengths == std::vector<int>{2, 4} || lengths == std::vector<int>{6}));
  }
  CHECK(fours.batches_per_rank() == 5);

  // Two ranks share the epoch's batches without overlap.
  const QepBatchSampler r0(refs, 6, ShuffledSamplerOptions{30, 2, 0, 7}), r1(refs, 6, ShuffledSamplerOptions{30, 2, 1, 7});
  std::set<int64_t> seen;
  for (const auto* s : {&r0, &r1})
    for (const SampledBatch& b : s->epoch_batches(0)) seen.insert(b.indices.begin(), b.indices.end());
  CHECK(seen.size() == 120);
  REQUIRE_THROWS_WITH(QepBatchSampler(refs, 0, ShuffledSamplerOptions{30, 1, 0, 7}), Contains("chunk size 0"));
}

TEST_CASE("dsmix-train --holdout 0 keeps every reference for training and > 0 holds at least one out", "[dsmix][config]") {
  KadisSet set;
  for (int r = 0; r < 4; ++r) {
    set.references.push_back("r" + std::to_string(r) + ".png");
    for (int level = 1; level <= 5; ++level) set.samples.push_back(KadisSample{"", r, 1, level});
  }
  const ReferenceSplit none = split_by_reference(set, 0.0, 0);
  CHECK(none.train.size() == 20);
  CHECK(none.held_out.empty());
  const ReferenceSplit some = split_by_reference(set, 0.01, 0);  // rounds to 0, kept at 1 reference
  CHECK(some.held_out.size() == 5);
  CHECK(some.train.size() == 15);
  KadisSet one = set;
  one.references.resize(1);
  one.samples.resize(5);
  CHECK(split_by_reference(one, 0.0, 0).train.size() == 5);
  REQUIRE_THROWS_WITH(split_by_reference(one, 0.2, 0), Contains("--holdout 0"));

  DsmixConfig c;
  c.stage = DsmixStage::QEP;
  c.references = "refs";
  c.dsm_checkpoint = "x";
  DsmixConfig r = c.resolved();
  r.holdout = 0;  // allowed: no held-out references, no evaluation
  r.images_per_reference = 4;  // chunks need not divide the batch (110): QepBatchSampler pads nothing
  r.validate();
  r.holdout = 1;
  REQUIRE_THROWS_WITH(r.validate(), Contains("--holdout must be in [0, 1)"));
  r.holdout = 0.05;
  r.images_per_reference = 0;
  REQUIRE_THROWS_WITH(r.validate(), Contains("--images_per_reference must be >= 1"));
}
