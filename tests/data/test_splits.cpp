// make-splits' readers on small made-up score files in each dataset's format, and the three protocols.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <unistd.h>

#include "training/data/csv.h"
#include "training/data/splits.h"
#include "tests/testing.h"

using namespace iqa;
using iqa::testing::TempDir;
using iqa::testing::error_of;

namespace {


// What entry `index` of a loaded listing must hold; nullptr / -1: not checked here.
struct ExpectedEntry {
  size_t index;
  const char* image;
  int domain_id;
  const char* reference;
};
void check_entries(const SourceData& s, const std::vector<ExpectedEntry>& expected) {
  for (const ExpectedEntry& x : expected) {
    INFO("entry " << x.index);
    REQUIRE(x.index < s.list.entries.size());
    const auto& e = s.list.entries[x.index];
    if (x.image) CHECK(e.image == x.image);
    if (x.domain_id >= 0) CHECK(e.domain_id == x.domain_id);
    if (x.reference) CHECK(e.reference == x.reference);
  }
}

std::vector<std::string> images_of(const DatasetList& l) {
  std::vector<std::string> out;
  for (const auto& e : l.entries) out.push_back(e.image);
  return out;
}

}  // namespace

TEST_CASE("parse_csv handles quotes, CRLF, a BOM and guessed delimiters", "[data][splits]") {
  CsvTable t = parse_csv("\xEF\xBB\xBF\"image_name\",\"MOS\"\r\n\"a, b.jpg\",3.5\r\n\r\n\"say \"\"hi\"\"\",4\r\n", "k.csv");
  CHECK(t.header == std::vector<std::string>{"image_name", "MOS"});
  REQUIRE(t.rows.size() == 2);
  CHECK(t.rows[0][0] == "a, b.jpg");
  CHECK(t.rows[1][0] == "say \"hi\"");
  CHECK(t.row_lines == std::vector<int>{2, 4});
  CHECK(t.column({"mos"}) == 1);
  CHECK(parse_csv("image_id=user_id=score\n1=2=7\n", "eva").rows[0][2] == "7");
  CHECK(parse_csv("a;b\n1;2\n", "x").header.size() == 2);
  CHECK(parse_csv("a\tb\n1\t2\n", "x").rows[0][1] == "2");
  CHECK(parse_csv("a,b\n1,2,,\n", "x").rows[0].size() == 2);  // trailing empty spreadsheet cells
  CHECK(error_of([] { parse_csv("a,b\n1,2\n3\n", "short.csv"); }) ==
        "short.csv:3: expected 2 fields (as the header), got 1");
  CHECK_THAT(error_of([] { parse_csv("a,b\n1,2\n", "x.csv").column({"mos", "score"}); }),
             Catch::Contains("x.csv: no column 'mos' or 'score' (columns: a, b)"));
  CHECK_THAT(error_of([] { parse_csv("a\n\"open\n", "q.csv"); }), Catch::Contains("unterminated"));
}

TEST_CASE("koniq10k: MOS_zscore, official set column, optional CLIP scene labels", "[data][splits]") {
  TempDir d;
  const std::string scores = d.write("koniq10k_distributions_sets.csv",
      "\"image_name\",\"c1\",\"c2\",\"c3\",\"c4\",\"c5\",\"c_total\",\"MOS\",\"SD\",\"MOS_zscore\",\"set\"\n"
      "\"100.jpg\",0,1,2,3,4,10,3.1,0.5,61.25,\"training\"\n"
      "\"200.jpg\",0,1,2,3,4,10,2.1,0.5,40.5,\"validation\"\n"
      "\"300.jpg\",0,1,2,3,4,10,3.9,0.5,80,\"test\"\n");
  SourceData s = load_source("koniq10k", {{scores}, ""});
  REQUIRE(s.list.entries.size() == 3);
  CHECK(s.list.entries[0].image == "koniq10k/1024x768/100.jpg");
  CHECK(s.list.entries[0].score == 61.25);
  CHECK(s.list.entries[2].domain_id == 300);
  CHECK(s.official_split == std::vector<std::string>{"train", "train", "test"});
  Split cs = cross_set_split(s);
  CHECK(images_of(cs.test) == std::vector<std::string>{"koniq10k/1024x768/300.jpg"});
  CHECK(cs.train.entries.size() == 2);

  const std::string labels = d.write("clip.csv", "image,scene\n100.jpg,Landscape\n200.jpg,night\n300.jpg,Still-life\n");
  SourceData l = load_source("koniq10k", {{scores}, labels});
  CHECK(l.list.entries[0].domain_id == 304);
  CHECK(l.list.entries[1].domain_id == 305);
  CHECK(l.list.entries[2].domain_id == 307);
  CHECK(l.list.domain_names.at(305) == "Night scene");
  const std::string bad = d.write("bad.csv", "image,scene\n100.jpg,Beach\n");
  CHECK_THAT(error_of([&] { load_source("koniq10k", {{scores}, bad}); }), Catch::Contains("'Beach' is not one of"));
}

TEST_CASE("spaq: MOS sheet plus multi-label scene flags, one label drawn once per seed", "[data][splits]") {
  TempDir d;
  const std::string scores = d.write("mos.csv", "Image name,MOS,Brightness\n00001.jpg,48.86,50\n00002.jpg,70,60\n"
                                                "00003.jpg,20,10\n");
  const std::string flags = d.write("scenes.csv",
      "Image name,Animal,Cityscape,Human,Indoor scene,Landscape,Night scene,Plant,Still-life,Others\n"
      "00001.jpg,0,0,0,0,0,1,0,0,0\n00002.jpg,1,1,0,0,0,0,1,0,0\n00003.jpg,0,0,0,0,0,0,0,0,1\n");
  SourceData s = load_source("spaq", {{scores}, flags}, 7);
  REQUIRE(s.list.entries.size() == 3);
  CHECK(s.list.entries[0].image == "SPAQ/TestImage/00001.jpg");
  CHECK(s.list.entries[0].domain_id == 105);
  CHECK(s.list.entries[0].scene == "Night scene");
  const int multi = s.list.entries[1].domain_id;
  CHECK((multi == 100 || multi == 101 || multi == 106));
  CHECK(s.list.entries[2].domain_id == 108);
  CHECK(load_source("spaq", {{scores}, flags}, 7).list.entries[1].domain_id == multi);  // frozen per seed
  std::set<int> drawn;
  for (uint64_t seed = 0; seed < 40; ++seed) drawn.insert(load_source("spaq", {{scores}, flags}, seed).list.entries[1].domain_id);
  CHECK(drawn == std::set<int>{100, 101, 106});

  const std::string listed = d.write("scenes2.csv", "Image name,Scene category\n00001.jpg,6\n00002.jpg,\"2, Plant\"\n"
                                                    "00003.jpg,Indoor\n");
  SourceData t = load_source("spaq", {{scores}, listed}, 1);
  CHECK(t.list.entries[0].domain_id == 105);
  CHECK((t.list.entries[1].domain_id == 101 || t.list.entries[1].domain_id == 106));
  CHECK(t.list.entries[2].domain_id == 103);
  CHECK_THAT(error_of([&] { load_source("spaq", {{scores}, ""}); }), Catch::Contains("--scenes"));
}

TEST_CASE("livec, bid, cid2013: image/mos sheets", "[data][splits]") {
  TempDir d;
  const std::string f = d.write("mos.csv", "image,mos\n1001.JPG,62.5\nt1.bmp,30\n");
  SourceData l = load_source("livec", {{f}, ""});
  CHECK(images_of(l.list) == std::vector<std::string>{"LIVEChallenge/Images/1001.JPG", "LIVEChallenge/Images/t1.bmp"});
  CHECK(l.list.entries[1].score == 30);
  CHECK(l.list.entries[1].domain_id == 200);
  CHECK(load_source("bid", {{f}, ""}).list.entries[0].image == "BID/1001.JPG");
  CHECK(load_source("bid", {{f}, ""}).list.entries[0].domain_id == 400);
  const std::string cid = d.write("cid.csv", "image,Realigned MOS\nIS1/co1/a.jpg,55.5\n");
  SourceData c = load_source("cid2013", {{cid}, ""});
  CHECK(c.list.entries[0].image == "CID2013/IS1/co1/a.jpg");
  CHECK(c.list.entries[0].domain_id == 450);
  const std::string bad = d.write("bad.csv", "image,mos\nx.jpg,abc\n");
  CHECK(error_of([&] { load_source("livec", {{bad}, ""}); }) == bad + ":2: column 'mos': 'abc' is not a number");
}

TEST_CASE("kadid10k, csiq, live, tid2013: synthetic sets with types and references", "[data][splits]") {
  TempDir d;
  const std::string kadid = d.write("dmos.csv", "dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,4.57,0.1\n"
                                                "I01_07_03.png,I01.png,3.2,0.2\nI02_25_05.png,I02.png,1.5,0.3\n");
  SourceData k = load_source("kadid10k", {{kadid}, ""});
  check_entries(k, {{1, "kadid10k/images/I01_07_03.png", 607, nullptr}, {2, nullptr, 625, "I02.png"}});
  CHECK(k.list.entries[1].dist_type == "07");

  const std::string csiq = d.write("csiq.csv", "image,dst_idx,dst_type,dst_lev,dmos_std,dmos\n"
                                               "1600,1,noise,1,0.02,0.062\n1600,3,jpeg 2000,4,0.03,0.51\n"
                                               "aerial_city,5,blur,2,0.01,0.2\n");
  SourceData c = load_source("csiq", {{csiq}, ""});
  check_entries(c, {{0, "CSIQ/dst_imgs/awgn/1600.AWGN.1.png", -1, nullptr},
                    {1, "CSIQ/dst_imgs/jpeg2000/1600.jpeg2000.4.png", 805, nullptr},
                    {2, "CSIQ/dst_imgs/blur/aerial_city.BLUR.2.png", -1, "aerial_city.png"}});

  const std::string live = d.write("live.csv", "image,reference,dmos\njp2k/img1.bmp,bikes.bmp,40.2\n"
                                               "fastfading/img3.bmp,parrots.bmp,0\n");
  SourceData l = load_source("live", {{live}, ""});
  check_entries(l, {{0, "LIVE/jp2k/img1.bmp", 700, nullptr}, {1, nullptr, 704, "parrots.bmp"}});
  const std::string bad_live = d.write("bad_live.csv", "image,reference,dmos\nblur/img1.bmp,a.bmp,1\n");
  CHECK_THAT(error_of([&] { load_source("live", {{bad_live}, ""}); }), Catch::Contains(":2: 'blur/img1.bmp'"));

  const std::string tid = d.write("mos_with_names.txt", "5.51429 i01_01_1.bmp\n4.2 I25_24_5.bmp\n");
  SourceData t = load_source("tid2013", {{tid}, ""});
  check_entries(t, {{0, "TID2013/distorted_images/i01_01_1.bmp", 901, nullptr}, {1, nullptr, 925, "I25"}});
  CHECK(t.list.entries[1].score == 4.2);
}

TEST_CASE("eva votes and para sheets", "[data][splits]") {
  TempDir d;
  const std::string votes = d.write("votes_filtered.csv", "image_id=user_id=score=difficulty\n10=1=6=1\n11=1=3=1\n"
                                                          "10=2=8=2\n10=3=7=1\n");
  const std::string cats = d.write("image_content_category.csv", "image_id,category_id\n10,2\n11,6\n");
  SourceData e = load_source("eva", {{votes}, cats});
  REQUIRE(e.list.entries.size() == 2);
  CHECK(e.list.entries[0].image == "EVA/eva-dataset-master/images/EVA_category/EVA_category/2/10.jpg");
  CHECK(e.list.entries[0].score == Approx(7.0));
  CHECK(e.list.entries[0].domain_id == 1102);
  CHECK(e.list.entries[1].domain_id == 1106);
  CHECK(e.list.domain_names.at(1106) == "other");

  const std::string train = d.write("PARA-GiaaTrain.csv", "sessionId,imageName,aestheticScore_mean,semantic\n"
                                                          "s1,a.jpg,3.5,portrait\ns1,b.jpg,2.5,animal\n");
  const std::string test = d.write("PARA-GiaaTest.csv", "sessionId,imageName,aestheticScore_mean,semantic\n"
                                                        "s2,c.jpg,4.0,nightScene\n");
  SourceData p = load_source("para", {{train, test}, ""});
  CHECK(p.list.entries[0].image == "PARA/imgs/s1/a.jpg");
  CHECK(p.list.entries[0].domain_id == 1202);  // animal, nightScene, portrait
  CHECK(p.list.entries[1].domain_id == 1200);
  CHECK(p.list.entries[2].domain_id == 1201);
  CHECK(p.official_split == std::vector<std::string>{"train", "train", "test"});
  CHECK_THAT(error_of([&] { load_source("pipal", {{train}, ""}); }), Catch::Contains("must be the PIPAL folder"));
  CHECK_THAT(error_of([&] { load_source("imagenet", {{train}, ""}); }), Catch::Contains("unknown dataset"));
}

TEST_CASE("leave_one_out_folds: one fold per domain", "[data][splits]") {
  DatasetList l;
  l.entries = {{"a", 1, 101, "Cityscape"}, {"b", 2, 105, "Night scene"}, {"c", 3, 101, "Cityscape"}, {"d", 4, 108, ""}};
  l.domain_names = {{101, "Cityscape"}, {105, "Night scene"}};
  std::vector<Fold> f = leave_one_out_folds(l);
  REQUIRE(f.size() == 3);
  CHECK(f[0].name == "test_for_101_Cityscape");
  CHECK(f[1].name == "test_for_105_Night-scene");
  CHECK(f[2].name == "test_for_108");
  CHECK(images_of(f[0].test) == std::vector<std::string>{"a", "c"});
  CHECK(images_of(f[0].train) == std::vector<std::string>{"b", "d"});
  CHECK(f[0].test.domain_names == l.domain_names);
}

TEST_CASE("random_splits: 70/10/20, content-disjoint, reproducible", "[data][splits]") {
  DatasetList synthetic;  // 30 references x 4 distortions, like CSIQ's 30 contents
  for (int r = 0; r < 30; ++r)
    for (int k = 0; k < 4; ++k) synthetic.entries.push_back({cat("img", r, "_", k), double(r + k), 801 + k, "", "", cat("ref", r)});
  std::vector<Split> s = random_splits(synthetic, true, 10, 3);
  REQUIRE(s.size() == 10);
  for (const Split& sp : s) {
    std::set<std::string> tr, va, te;
    for (const auto& e : sp.train.entries) tr.insert(e.reference);
    for (const auto& e : sp.val.entries) va.insert(e.reference);
    for (const auto& e : sp.test.entries) te.insert(e.reference);
    CHECK(tr.size() == 21);
    CHECK(va.size() == 3);
    CHECK(te.size() == 6);
    CHECK(sp.train.entries.size() == 84);
    for (const auto& r : te) CHECK((tr.count(r) == 0 && va.count(r) == 0));
    for (const auto& r : va) CHECK(tr.count(r) == 0);
  }
  CHECK(images_of(s[0].test) != images_of(s[1].test));
  CHECK(images_of(random_splits(synthetic, true, 10, 3)[4].test) == images_of(s[4].test));
  CHECK(images_of(random_splits(synthetic, true, 10, 4)[4].test) != images_of(s[4].test));

  DatasetList authentic;  // 81 images without references: KADID-like group count 81 -> 57/8/16
  for (int i = 0; i < 81; ++i) authentic.entries.push_back({cat("p", i), 1.0, 300});
  Split a = random_splits(authentic, false, 1, 0)[0];
  CHECK(a.train.entries.size() == 57);
  CHECK(a.val.entries.size() == 8);
  CHECK(a.test.entries.size() == 16);
  CHECK_THAT(error_of([&] { random_splits(authentic, true, 1, 0); }), Catch::Contains("no reference content"));

  DatasetList flipped = flip_scores(synthetic);
  CHECK(flipped.entries[0].score == 32.0);  // max 32 (ref29 + 3) - 0
  CHECK(flipped.entries[1].score == 31.0);
}

TEST_CASE("cross_set_split by test list and write_protocols layout", "[data][splits]") {
  TempDir d;
  const std::string live = d.write("live.csv", "image,reference,dmos\njp2k/img1.bmp,a.bmp,40\njpeg/img2.bmp,b.bmp,20\n"
                                               "wn/img3.bmp,c.bmp,10\ngblur/img4.bmp,a.bmp,60\n");
  SourceData s = load_source("live", {{live}, ""});
  Split cs = cross_set_split(s, {"img2.bmp", "LIVE/wn/img3.bmp"});
  CHECK(images_of(cs.test) == std::vector<std::string>{"LIVE/jpeg/img2.bmp", "LIVE/wn/img3.bmp"});
  CHECK(cs.train.entries.size() == 2);
  CHECK_THAT(error_of([&] { cross_set_split(s, {"nope.bmp"}); }), Catch::Contains("'nope.bmp' is not in the dataset"));
  CHECK_THAT(error_of([&] { cross_set_split(s); }), Catch::Contains("no official train/test split"));

  SplitOptions o;
  o.random_count = 2;
  o.test_images = {"img4.bmp"};
  const std::string out = (d.path / "json").string();
  std::vector<std::string> files = write_protocols(s, o, out);
  CHECK(files.size() == 1 + 4 * 2 + 1 + 2 * 3);  // LIVE is test-only: one cross-set file
  CHECK(files[0] == out + "/all/live_all.json");
  DatasetList fold = read_data_json(out + "/for_leave_one_out/live/test_for_700_jp2k/test.json");
  CHECK(images_of(fold) == std::vector<std::string>{"LIVE/jp2k/img1.bmp"});
  CHECK(read_data_json(out + "/for_cross_set/test/live.json").entries.size() == 1);
  // Random splits flip LIVE's DMOS (lower is better) to max - score.
  DatasetList all;
  for (const char* part : {"train", "val", "test"}) {
    DatasetList p = read_data_json(out + "/random_split/live/2/" + part + ".json");
    all.entries.insert(all.entries.end(), p.entries.begin(), p.entries.end());
  }
  REQUIRE(all.entries.size() == 4);
  std::multiset<double> scores;
  for (const auto& e : all.entries) scores.insert(e.score);
  CHECK(scores == std::multiset<double>{0, 20, 40, 50});
}
