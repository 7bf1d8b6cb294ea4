// plan_protocol on the SIND reference's data_json tree: cross-set listings by dataset name in the
// reference's layout (and iqa.cu's older one), and random splits without a val.json (EVA's).
#include <catch2/catch.hpp>

#include "tests/data/reference_fixtures.h"
#include "training/sind/protocols.h"

using namespace iqa;
using namespace iqa::training;

namespace {
std::string listing(int n, int domain) {
  std::string s = R"({"files": [)";
  for (int i = 0; i < n; ++i)
    s += std::string(i ? "," : "") + R"({"image": "img)" + std::to_string(i) + R"(.jpg", "score": )" +
         std::to_string(1 + i) + R"(, "domain_id": )" + std::to_string(domain) + "}";
  return s + "]}";
}
}  // namespace

TEST_CASE("plan_protocol finds cross-set listings in the reference's layout, then the older one", "[protocols]") {
  fixtures::FixtureDir dir("protocols_cross");
  dir.write("for_cross_set/train/spaq_train.json", listing(3, 105));
  dir.write("for_cross_set/test/koniq10k_test.json", listing(2, 300));
  dir.write("all/livec_all.json", listing(4, 200));
  dir.write("cross_set/bid/test.json", listing(5, 400));
  SindConfig cfg;
  cfg.json_root = dir.str();
  cfg.exp_type = Protocol::CrossSet;
  cfg.train_dataset = {"spaq"};
  cfg.test_dataset = {"koniq10k", "livec", "bid"};
  const auto runs = plan_protocol(cfg);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].data.train.entries.size() == 3);
  REQUIRE(runs[0].data.tests.size() == 3);
  CHECK(runs[0].data.tests[0].list.entries.size() == 2);
  CHECK(runs[0].data.tests[1].list.entries.size() == 4);
  CHECK(runs[0].data.tests[2].list.entries.size() == 5);

  cfg.test_dataset = {"eva"};
  const std::string msg = fixtures::error_message_of([&] { plan_protocol(cfg); });
  CHECK(msg.find("no cross-set test listing for 'eva'") != std::string::npos);
  CHECK(msg.find("for_cross_set/test/eva_test.json") != std::string::npos);
  CHECK(msg.find("all/eva.json") != std::string::npos);
}

TEST_CASE("plan_protocol: a random split without val.json runs without validation", "[protocols]") {
  fixtures::FixtureDir dir("protocols_split");
  for (int i = 1; i <= 2; ++i) {
    const std::string d = "random_split/eva/" + std::to_string(i) + "/";
    dir.write(d + "train.json", listing(4, 1100));
    dir.write(d + "test.json", listing(2, 1100));
  }
  dir.write("random_split/eva/2/val.json", listing(1, 1100));
  SindConfig cfg;
  cfg.json_root = dir.str();
  cfg.exp_type = Protocol::RandomSplit;
  cfg.splits = 2;
  cfg.train_dataset = {"eva"};
  cfg.test_dataset = {"eva"};
  const auto runs = plan_protocol(cfg);
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].data.vals.empty());
  REQUIRE(runs[1].data.vals.size() == 1);
  CHECK(runs[1].data.vals[0].list.entries.size() == 1);
  CHECK(runs[0].data.tests[0].list.entries.size() == 2);
}

TEST_CASE("plan_protocol: leave-one-out ignores --dataset_domain as the reference does", "[protocols]") {
  fixtures::FixtureDir dir("protocols_loo");
  for (int d = 0; d < 2; ++d) {
    const std::string fold = "for_leave_one_out/spaq/test_for_10" + std::to_string(d) + "_scene/";
    dir.write(fold + "train.json", listing(3, 105 + d));
    dir.write(fold + "test.json", listing(2, 100 + d));
  }
  SindConfig cfg;
  cfg.json_root = dir.str();
  cfg.exp_type = Protocol::LeaveOneOut;
  cfg.train_dataset = {"spaq"};
  cfg.dataset_domain = true;
  const auto runs = plan_protocol(cfg);
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].data.train.entries.at(0).domain_id == 105);  // not 1
  CHECK(runs[1].data.train.entries.at(0).domain_id == 106);
}
