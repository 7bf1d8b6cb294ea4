// data_json reading/writing, the dataset registry, and validation before training.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include "training/data/dataset.h"
#include "training/image/encode.h"
#include "tests/testing.h"

using namespace iqa;
using iqa::testing::TempDir;
using iqa::testing::error_of;

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

ImageU8 small_image(int w, int h) {
  ImageU8 img(w, h, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 7);
  return img;
}


}  // namespace

TEST_CASE("parse_data_json reads SIND listings", "[data][dataset]") {
  const std::string text = R"({"files": [
    {"image": "SPAQ/TestImage/00001.jpg", "score": 48.86, "scene": "Night scene", "domain_id": 105},
    {"image": "koniq10k/1024x768/1.jpg", "score": 77.38, "domain_id": 304.0, "scene": ["Landscape", "Plant"]},
    {"image": "kadid10k/images/I01_01_01.png", "score": 4.57, "dist_type": "01", "domain_id": 601,
     "reference": "I01.png", "extra": [1, 2]}],
    "domain_name": {"105": "Night scene", "304": "Landscape"}})";
  DatasetList list = parse_data_json(text, "mixed.json");
  REQUIRE(list.entries.size() == 3);
  CHECK(list.entries[0].image == "SPAQ/TestImage/00001.jpg");
  CHECK(list.entries[0].score == 48.86);
  CHECK(list.entries[0].domain_id == 105);
  CHECK(list.entries[1].domain_id == 304);
  CHECK(list.entries[1].scene == "Landscape|Plant");
  CHECK(list.entries[2].dist_type == "01");
  CHECK(list.entries[2].reference == "I01.png");
  CHECK(list.domain_names == std::map<int, std::string>{{105, "Night scene"}, {304, "Landscape"}});

  DatasetList again = parse_data_json(to_data_json(list), "roundtrip");
  REQUIRE(again.entries.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(again.entries[i].image == list.entries[i].image);
    CHECK(again.entries[i].score == list.entries[i].score);  // shortest round-trip doubles: exact
    CHECK(again.entries[i].domain_id == list.entries[i].domain_id);
    CHECK(again.entries[i].scene == list.entries[i].scene);
    CHECK(again.entries[i].reference == list.entries[i].reference);
  }
  CHECK(again.domain_names == list.domain_names);
}

TEST_CASE("parse_data_json errors name the file and the entry", "[data][dataset]") {
  CHECK_THAT(error_of([] { parse_data_json("{\"files\": [", "broken.json"); }),
             Catch::StartsWith("broken.json: not valid JSON"));
  CHECK_THAT(error_of([] { parse_data_json("[1, 2]", "a.json"); }), Catch::Contains("a.json: expected a top-level object"));
  CHECK_THAT(error_of([] { parse_data_json("{}", "a.json"); }), Catch::Contains("a.json: missing field 'files'"));
  const std::string bad_score =
      R"({"files": [{"image": "a.jpg", "score": 1, "domain_id": 1}, {"image": "b.jpg", "score": 2, "domain_id": 1},
                    {"image": "c.jpg", "score": "3.5", "domain_id": 1}]})";
  CHECK(error_of([&] { parse_data_json(bad_score, "bad.json"); }) ==
        "bad.json: files[2].score: expected a number, got string");
  CHECK(error_of([] { parse_data_json(R"({"files": [{"image": "a.jpg", "score": 1}]})", "x.json"); }) ==
        "x.json: files[0]: missing field 'domain_id'");
  CHECK_THAT(error_of([] { parse_data_json(R"({"files": [{"image": "a", "score": 1, "domain_id": 1.5}]})", "x"); }),
             Catch::StartsWith("x: files[0].domain_id: 1.5 is not an integer"));
  CHECK_THAT(error_of([] { parse_data_json(R"({"files": [{"score": 1, "domain_id": 1}]})", "x"); }),
             Catch::Contains("files[0]: missing field 'image'"));
  CHECK(parse_data_json(R"({"files": [], "domain_name": {"a": "b"}})", "x").warnings ==
        std::vector<std::string>{"x: domain_name: key 'a' is not a domain id; ignored"});
  CHECK_THAT(error_of([] { read_data_json("/nonexistent/dir/train.json"); }),
             Catch::StartsWith("/nonexistent/dir/train.json: cannot open"));
}

TEST_CASE("dataset registry: bases, ownership of domain ids, scales", "[data][dataset]") {
  CHECK(dataset_registry().size() == 16);
  CHECK(dataset_info("koniq10k").domain_base == 300);
  CHECK(dataset_info("kadid10k").domain_base == 600);
  CHECK(dataset_info("eva").domain_base == 1100);
  CHECK(dataset_info("csiq").direction == ScoreDirection::LowerIsBetter);
  CHECK(dataset_info("live").direction == ScoreDirection::LowerIsBetter);
  CHECK(dataset_info("spaq").direction == ScoreDirection::HigherIsBetter);
  CHECK(dataset_info("csiq").score_max == 1.0);
  CHECK(dataset_info("tid2013").synthetic);
  CHECK_FALSE(dataset_info("spaq").synthetic);
  CHECK(dataset_for_domain(0)->name == "piq23");
  CHECK(dataset_for_domain(49)->name == "piq23");
  CHECK(dataset_for_domain(105)->name == "spaq");
  CHECK(dataset_for_domain(404)->name == "bid");
  CHECK(dataset_for_domain(455)->name == "cid2013");
  CHECK(dataset_for_domain(625)->name == "kadid10k");
  CHECK(dataset_for_domain(1209)->name == "para");
  CHECK(dataset_for_domain(1503)->name == "pipal");
  CHECK(dataset_for_domain(-1) == nullptr);
  CHECK_THAT(error_of([] { dataset_info("konIQ"); }), Catch::Contains("unknown dataset 'konIQ' (known: piq23, spaq"));
}

TEST_CASE("summarize_dataset counts per domain and score ranges", "[data][dataset]") {
  DatasetList list;
  list.entries = {{"a.jpg", 10, 101, "Cityscape"}, {"b.jpg", 30, 101, "Cityscape"}, {"c.jpg", 120, 104, "Landscape"},
                  {"d.jpg", 2, 801, ""}};
  list.domain_names[104] = "Landscape!";
  DatasetSummary s = summarize_dataset(list);
  CHECK(s.count == 4);
  CHECK(s.score_min == 2);
  CHECK(s.score_max == 120);
  CHECK(s.score_mean == Approx(40.5));
  REQUIRE(s.domains.size() == 3);
  CHECK(s.domains[0].domain_id == 101);
  CHECK(s.domains[0].count == 2);
  CHECK(s.domains[0].name == "Cityscape");
  CHECK(s.domains[0].score_min == 10);
  CHECK(s.domains[0].score_max == 30);
  CHECK(s.domains[1].name == "Landscape!");
  CHECK(s.outside_nominal_range == 2);  // SPAQ 120 > 100, CSIQ 2 > 1
  const std::string text = format_summary(s);
  CHECK_THAT(text, Catch::Contains("4 images in 3 domains"));
  CHECK_THAT(text, Catch::Contains("domain 101 (spaq Cityscape): 2 images, scores 10 .. 30"));
}

TEST_CASE("validate_dataset lists every unusable file in one error", "[data][dataset]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "imgs");
  write_png(dir.file("imgs/good1.png"), small_image(20, 10));
  write_jpeg(dir.file("imgs/good2.jpg"), small_image(16, 16), 90);
  write_text(dir.file("imgs/corrupt.png"), "this is not an image");
  write_text(dir.file("imgs/empty.jpg"), "");
  DatasetList list;
  list.entries = {{"imgs/good1.png", 1, 301}, {"imgs/missing.jpg", 2, 301}, {"imgs/good2.jpg", 3, 302},
                  {"imgs/corrupt.png", 4, 302}, {"imgs/empty.jpg", 5, 302}};
  const std::string root = dir.path.string();
  const std::string msg = error_of([&] { validate_dataset(list, root, "train.json", {}, 3); });
  CHECK_THAT(msg, Catch::StartsWith("train.json: 3 of 5 listed images are unusable"));
  CHECK_THAT(msg, Catch::Contains("files[1] " + root + "/imgs/missing.jpg: no such file"));
  CHECK_THAT(msg, Catch::Contains("files[3] " + root + "/imgs/corrupt.png: unknown image format"));
  CHECK_THAT(msg, Catch::Contains("files[4] " + root + "/imgs/empty.jpg: empty file"));
  CHECK(msg.find("good1") == std::string::npos);
  // Problems appear in entry order.
  CHECK(msg.find("files[1]") < msg.find("files[3]"));
  CHECK(msg.find("files[3]") < msg.find("files[4]"));

  // The pixel limit applies to headers.
  DatasetList big;
  big.entries = {{"imgs/good1.png", 1, 301}};
  DecodeOptions tight;
  tight.max_pixels = 100;
  CHECK_THAT(error_of([&] { validate_dataset(big, root, "big.json", tight); }), Catch::Contains("over the limit"));

  DatasetList ok;
  ok.entries = {list.entries[0], list.entries[2]};
  DatasetSummary s = validate_dataset(ok, root, "ok.json");
  CHECK(s.count == 2);
  CHECK(s.domains.size() == 2);
  CHECK_THAT(error_of([&] { validate_dataset(DatasetList{}, root, "none.json"); }), Catch::Contains("no images"));
}

TEST_CASE("write_data_json and read_data_json round trip through a file", "[data][dataset]") {
  TempDir dir;
  DatasetList list;
  list.entries = {{"x/1.bmp", 0.125, 803, "", "jpeg", "1600"}};
  write_data_json(dir.file("l.json"), list);
  DatasetList back = read_data_json(dir.file("l.json"));
  REQUIRE(back.entries.size() == 1);
  CHECK(back.entries[0].score == 0.125);
  CHECK(back.entries[0].dist_type == "jpeg");
  CHECK(back.entries[0].reference == "1600");
  CHECK(resolve_image_path("", "a/b.png") == "a/b.png");
  CHECK(resolve_image_path("data", "a/b.png") == "data/a/b.png");
  CHECK(resolve_image_path("data/", "a/b.png") == "data/a/b.png");
}
