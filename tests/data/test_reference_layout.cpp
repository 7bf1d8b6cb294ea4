// The SIND reference's own files (github.com/ZachL1/SIND data_json/ and LIQE's split files) and the
// datasets' files as shipped, on small fixtures written here in their exact layouts: listings parse
// as the reference reads them, and make-splits writes what the reference committed (paths, domain
// ids, folder and file names). Expected rows are copied from the reference's committed data_json.
#include <catch2/catch.hpp>

#include <map>

#include "tests/data/reference_fixtures.h"
#include "training/data/splits.h"

using namespace iqa;

using namespace iqa::fixtures;

TEST_CASE("reference listings: tid2013_all.json's numeric domain names and odd informational fields",
          "[data][reference]") {
  // As the reference's json.dump(indent=2) writes all/tid2013_all.json ("dist_dype" and int names).
  const std::string tid = R"({
  "files": [
    {
      "image": "TID2013/distorted_images/I01_01_1.bmp",
      "score": 5.51429,
      "dist_dype": 1,
      "domain_id": 901
    },
    {
      "image": "TID2013/distorted_images/i02_01_2.bmp",
      "score": 5.56757,
      "dist_dype": 2,
      "domain_id": 902
    }
  ],
  "domain_name": {
    "901": 1,
    "902": 2
  }
})";
  DatasetList l = parse_data_json(tid, "all/tid2013_all.json");
  CHECK(rows_of(l) == std::vector<Row>{{"TID2013/distorted_images/I01_01_1.bmp", 5.51429, 901},
                                       {"TID2013/distorted_images/i02_01_2.bmp", 5.56757, 902}});
  CHECK(l.domain_names == std::map<int, std::string>{{901, "1"}, {902, "2"}});
  CHECK(l.warnings.empty());
  CHECK(summarize_dataset(l).outside_nominal_range == 0);

  // Fields SIND never reads are never an error: unusable ones are dropped with a warning.
  DatasetList odd = parse_data_json(R"({"files": [{"image": "a.jpg", "score": 1, "domain_id": 300,
      "scene": {"x": 1}, "style": "cartoon", "dist_type": 3.5}], "domain_name": {"300": [1], "x": "y"}})", "odd.json");
  REQUIRE(odd.entries.size() == 1);
  CHECK(odd.entries[0].scene.empty());
  CHECK(odd.entries[0].dist_type == "3.5");
  CHECK(odd.domain_names.empty());
  CHECK(odd.warnings == std::vector<std::string>{
                            "odd.json: files[0].scene: object ignored (SIND does not read this field)",
                            "odd.json: domain_name[\"300\"]: array ignored",
                            "odd.json: domain_name: key 'x' is not a domain id; ignored"});
  CHECK(parse_data_json(R"({"files": [], "domain_name": 5})", "n.json").warnings ==
        std::vector<std::string>{"n.json: domain_name: number ignored (expected an object)"});
  // The fields SIND reads stay checked.
  CHECK(error_message_of([] { parse_data_json(R"({"files": [{"image": "a", "score": "1", "domain_id": 1}]})", "s.json"); }) ==
        "s.json: files[0].score: expected a number, got string");
}

TEST_CASE("reference listings: a random split without val.json means no validation", "[data][reference]") {
  FixtureDir d("test_reference_layout");
  d.write("random_split/eva/1/train.json", R"({"files": [{"image": "a.jpg", "score": 5.5, "domain_id": 1101}]})");
  CHECK_FALSE(read_data_json_if_present(d.str("random_split/eva/1/val.json"), "training without validation"));
  std::optional<DatasetList> train = read_data_json_if_present(d.str("random_split/eva/1/train.json"));
  REQUIRE(train);
  CHECK(train->entries.size() == 1);
}

TEST_CASE("registry: every dataset the reference lists has its own name, id range and scale", "[data][reference]") {
  CHECK(dataset_for_domain(1400)->name == "nnid");
  CHECK(dataset_for_domain(1402)->name == "nnid");
  CHECK(dataset_for_domain(1300)->name == "ava");
  CHECK(dataset_for_domain(1748)->name == "pipal");
  CHECK(dataset_for_domain(925)->name == "tid2013");
  CHECK(dataset_for_domain(1050) == nullptr);  // between tid2013 and eva: nobody's
  CHECK(dataset_for_domain(2000) == nullptr);
  CHECK(dataset_info("nnid").score_max == 1.0);
  CHECK(dataset_info("ava").score_max == 10.0);
  for (const DatasetInfo& d : dataset_registry()) CHECK(d.domain_base < d.domain_end);
  // nnid_all.json's scores lie on nnid's own 0..1 scale, not para's 1..5.
  DatasetList nnid;
  nnid.entries = {{"NNID/sub512/D1_IC001_img1.jpg", 0.361776062, 1400}, {"NNID/Sub2048/x.jpg", 0.08, 1402}};
  CHECK(summarize_dataset(nnid).outside_nominal_range == 0);
  CHECK_THAT(format_summary(summarize_dataset(nnid)), Catch::Contains("domain 1402 (nnid)"));
}
