// make-splits against the SIND reference's committed data_json: each dataset's official files (small
// fixtures written here in their shipped layout) give the reference's image paths, scores, domain ids,
// folder and file names. Expected rows are copied from the reference's committed listings.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "tests/data/reference_fixtures.h"
#include "training/data/splits.h"

using namespace iqa;
namespace fs = std::filesystem;

namespace {

using namespace iqa::fixtures;
using Dir = FixtureDir;
const auto& error_of = error_message_of;

std::vector<std::string> folders_under(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return {names.begin(), names.end()};
}

}  // namespace

TEST_CASE("make-splits, reference layout: CSIQ, LIVE and TID2013 paths and ids", "[data][reference]") {
  Dir d("test_reference_splits");
  // hyperIQA's csiq_label.txt, which the reference reads.
  const std::string csiq = d.write("CSIQ/csiq_label.txt",
      "redwood.AWGN.1.png 0.050866\n1600.BLUR.2.png 0.2\n1600.contrast.1.png 0.1\n1600.fnoise.3.png 0.3\n"
      "1600.JPEG.4.png 0.4\n1600.jpeg2000.5.png 0.5\n");
  SourceData c = load_source("csiq", {{csiq}, ""});
  CHECK(rows_of(c.list) == std::vector<Row>{{"CSIQ/dst_imgs/awgn/redwood.AWGN.1.png", 0.050866, 800},
                                            {"CSIQ/dst_imgs/blur/1600.BLUR.2.png", 0.2, 801},
                                            {"CSIQ/dst_imgs/contrast/1600.contrast.1.png", 0.1, 802},
                                            {"CSIQ/dst_imgs/fnoise/1600.fnoise.3.png", 0.3, 803},
                                            {"CSIQ/dst_imgs/jpeg/1600.JPEG.4.png", 0.4, 804},
                                            {"CSIQ/dst_imgs/jpeg2000/1600.jpeg2000.5.png", 0.5, 805}});
  CHECK(c.list.domain_names == std::map<int, std::string>{{800, "awgn"}, {801, "blur"}, {802, "contrast"},
                                                          {803, "fnoise"}, {804, "jpeg"}, {805, "jpeg2000"}});
  CHECK(c.list.entries[1].reference == "1600.png");
  CHECK_THAT(error_of([&] { load_source("csiq", {{d.write("bad_label.txt", "x.GLOW.1.png 0.3\n")}, ""}); }),
             Catch::Contains("bad_label.txt: line 1: 'x.GLOW.1.png 0.3'"));

  const std::string live = d.write("live.csv", "image,reference,dmos\njp2k/img16.bmp,bikes.bmp,0\n"
                                               "jpeg/img4.bmp,bikes.bmp,40.5\nfastfading/img9.bmp,bikes.bmp,20\n");
  SourceData l = load_source("live", {{live}, ""});
  CHECK(rows_of(l.list) == std::vector<Row>{{"LIVE/jp2k/img16.bmp", 0, 700}, {"LIVE/jpeg/img4.bmp", 40.5, 701},
                                            {"LIVE/fastfading/img9.bmp", 20, 704}});
  CHECK(l.list.domain_names.at(704) == "fastfading");

  SourceData t = load_source("tid2013", {{d.write("mos_with_names.txt", "5.51429 I01_01_1.bmp\n")}, ""});
  CHECK(rows_of(t.list) == std::vector<Row>{{"TID2013/distorted_images/I01_01_1.bmp", 5.51429, 901}});
  CHECK(t.list.domain_names.at(901) == "1");
  SourceFiles old{{d.str("mos_with_names.txt")}, ""};
  old.path_style = "iqa";
  CHECK(load_source("tid2013", old).list.entries[0].image == "tid2013/distorted_images/I01_01_1.bmp");
  old.image_prefix = "mine/tid";
  CHECK(load_source("tid2013", old).list.entries[0].image == "mine/tid/I01_01_1.bmp");
}

TEST_CASE("make-splits, reference layout: EVA's folders, order and fold names", "[data][reference]") {
  Dir d("test_reference_splits");
  const std::string votes = d.write("eva-dataset-master/data/votes_filtered.csv",
      "image_id=user_id=score=difficulty=visual=composition=quality=semantic=vote_time\n"
      "132=1=6=1=1=1=1=1=1\n71=1=4=1=1=1=1=1=1\n71=2=5=1=1=1=1=1=1\n50=1=7=1=1=1=1=1=1\n");
  const std::string cats = d.write("eva-dataset-master/data/image_content_category.csv",
      "\"image_id\",\"category_id\"\n\"71\",\"5\"\n\"132\",\"3\"\n\"999\",\"4\"\n\"50\",\"2\"\n");
  SourceData e = load_source("eva", {{votes}, cats});
  const std::string p = "EVA/eva-dataset-master/images/EVA_category/EVA_category/";
  CHECK(rows_of(e.list) == std::vector<Row>{{p + "5/71.jpg", 4.5, 1105}, {p + "3/132.jpg", 6, 1103},
                                            {p + "2/50.jpg", 7, 1102}});  // 999 has no votes: left out
  CHECK(e.list.entries[0].scene == "still life");
  // A category that is no whole number in 1..6 is named, huge ones too (converting 6.7e101 to int was
  // undefined: tests/fuzz/regressions/fuzz_score_files/category_out_of_int).
  for (const char* bad : {"6.7e101", "7", "2.5"}) {
    const std::string c = d.write("bad_category.csv", std::string("image_id,category_id\n71,") + bad + "\n");
    CHECK_THAT(error_of([&] { load_source("eva", {{votes}, c}); }),
               Catch::Contains("bad_category.csv:2: column 'category_id': '" + std::string(bad) +
                               "' is not a whole number in 1..6"));
  }
  SplitOptions o;
  o.cross_set = false;
  o.random_split = false;
  write_protocols(e, o, d.str("json"));
  CHECK(folders_under(d.str("json/for_leave_one_out/eva")) ==
        std::vector<std::string>{"test_for_1102_architectures-and-city-scenes", "test_for_1103_human",
                                 "test_for_1105_still-life"});
  DatasetList fold = read_data_json(d.str("json/for_leave_one_out/eva/test_for_1103_human/train.json"));
  CHECK(fold.entries.size() == 2);
  CHECK(fold.domain_names.size() == 3);  // the whole table, as the reference's folds
}

TEST_CASE("make-splits, reference layout: LIVEC, BID, CID2013, SPAQ with the reference's scene choice",
          "[data][reference]") {
  Dir d("test_reference_splits");
  const std::string livec = d.write("livec.csv", "image,mos\nt1.bmp,63.963406174124174\n");
  CHECK(rows_of(load_source("livec", {{livec}, ""}).list) ==
        std::vector<Row>{{"LIVEChallenge/Images/t1.bmp", 63.963406174124174, 200}});
  const std::string bid2 = d.write("bid.csv", "image,mos\n1,4.516640224615385\n");
  CHECK(rows_of(load_source("bid", {{bid2}, ""}).list) ==
        std::vector<Row>{{"BID/DatabaseImage0001.JPG", 4.516640224615385, 400}});
  const std::string cid = d.write("cid.csv", "Source_ID,Realigned MOS\nIS_I_C01_D01,57.5\n");
  CHECK(rows_of(load_source("cid2013", {{cid}, ""}).list) == std::vector<Row>{{"CID2013/IS_I_C01_D01.jpg", 57.5, 450}});

  const std::string mos = d.write("mos.csv", "Image name,MOS\n00001.jpg,48.86\n00005.jpg,22.71\n");
  const std::string flags = d.write("scenes.csv",
      "Image name,Animal,Cityscape,Human,Indoor scene,Landscape,Night scene,Plant,Still-life,Others\n"
      "00001.jpg,0,1,0,0,0,1,0,1,0\n00005.jpg,0,0,0,1,0,0,0,0,0\n");
  // The reference's all/spaq_all.json picked "Night scene" for 00001 with an unseeded random.choice.
  const std::string chosen = d.write("spaq_all.json", R"({"files": [
    {"image": "SPAQ/TestImage/00001.jpg", "score": 48.86, "scene": "Night scene", "domain_id": 105},
    {"image": "SPAQ/TestImage/00005.jpg", "score": 22.71, "scene": "Indoor scene", "domain_id": 103}]})");
  SourceFiles sf{{mos}, flags};
  sf.scene_choice = chosen;
  SourceData s = load_source("spaq", sf);
  CHECK(rows_of(s.list) == std::vector<Row>{{"SPAQ/TestImage/00001.jpg", 48.86, 105},
                                            {"SPAQ/TestImage/00005.jpg", 22.71, 103}});
  SplitOptions o;
  o.random_split = false;
  o.test_images = {"00005.jpg"};
  write_protocols(s, o, d.str("json"));
  CHECK(folders_under(d.str("json/for_leave_one_out/spaq")) ==
        std::vector<std::string>{"test_for_103_Indoor-scene", "test_for_105_Night-scene"});
  CHECK(rows_of(read_data_json(d.str("json/for_cross_set/train/spaq_train.json"))) ==
        std::vector<Row>{{"SPAQ/TestImage/00001.jpg", 48.86, 105}});
  CHECK(read_data_json(d.str("json/for_cross_set/test/spaq_test.json")).entries.size() == 1);
  CHECK(read_data_json(d.str("json/all/spaq_all.json")).entries.size() == 2);
  sf.scene_choice = d.write("wrong.json", R"({"files": [{"image": "SPAQ/TestImage/00001.jpg", "score": 1,
                                                        "domain_id": 100}]})");
  CHECK_THAT(error_of([&] { load_source("spaq", sf); }), Catch::Contains("00001.jpg is in domain 100, not one of"));
}

TEST_CASE("make-splits: nnid, ava, piq23, agiqa3k and pipal as shipped", "[data][reference]") {
  Dir d("test_reference_splits");
  SourceData n = load_source("nnid", {{d.write("NNID/mos2048_with_names.txt", "0.08 D3_IC001_img1.jpg\n"),
                                       d.write("NNID/mos512_with_names.txt", "0.361776062 D1_IC001_img1.jpg\n"),
                                       d.write("NNID/mos1024_with_names.txt", "0.5 D2_IC001_img1.jpg\n")},
                                      ""});
  CHECK(rows_of(n.list) == std::vector<Row>{{"NNID/sub512/D1_IC001_img1.jpg", 0.361776062, 1400},
                                            {"NNID/sub1024/D2_IC001_img1.jpg", 0.5, 1401},
                                            {"NNID/Sub2048/D3_IC001_img1.jpg", 0.08, 1402}});
  SourceData a = load_source("ava", {{d.write("AVA.txt", "1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n")}, ""});
  CHECK(rows_of(a.list) == std::vector<Row>{{"AVA/data/image/953619.jpg", 699.0 / 124.0, 1300}});  // sum k * votes_k / sum votes
  SourceData q = load_source("piq23", {{d.write("Scores_Overall.csv",
      "IMAGE PATH,IMAGE,JOD,JOD STD,CI LOW,CI HIGH,CI RANGE,QUALITY LEVEL,CLUSTER,TOTAL COMPARISONS,SCENE,ATTRIBUTE,SCENE IDX,CONDITION\n"
      "Overall\\66_Indoor_Scene_0.jpg,66_Indoor_Scene_0.jpg,-3.720674450398623,1,1,1,1,1,1,1,Indoor_Scene_0,Overall,0,Indoor\n"
      "Overall\\3_Outdoor_Scene_49.tif,3_Outdoor_Scene_49.tif,1.5,1,1,1,1,1,1,1,Outdoor_Scene_49,Overall,49,Day\n")}, ""});
  CHECK(rows_of(q.list) == std::vector<Row>{{"PIQ23/Overall/66_Indoor_Scene_0.jpg", -3.720674450398623, 0},
                                            {"PIQ23/Overall/3_Outdoor_Scene_49.tif", 1.5, 49}});
  CHECK(q.list.domain_names.at(49) == "Outdoor_Scene_49");
  SourceData g = load_source("agiqa3k", {{d.write("AGIQA-3K/data.csv",
      "name,prompt,adj1,adj2,style,mos_quality,std_quality,mos_align,std_align\n"
      "AttnGAN_normal_000.jpg,a cat,,,,1.5,0.5,2,0.5\nmidjourney_x.png,a dog,,,baroque,3.25,0.5,2,0.5\n")}, ""});
  CHECK(rows_of(g.list) == std::vector<Row>{{"AGIQA-3K/images/AttnGAN_normal_000.jpg", 1.5, 501},
                                            {"AGIQA-3K/images/midjourney_x.png", 3.25, 500}});  // baroque < other

  d.write("PIPAL/training/Train_Label/A0149.txt", "A0149_00_00.bmp,1500\n");
  d.write("PIPAL/training/Distortion_3/A0149_00_00.bmp", "");
  d.write("PIPAL/validation/val_label.txt", "A0005_10_00.bmp,1400\n");
  SourceData pp = load_source("pipal", {{d.str("PIPAL")}, ""});
  CHECK(rows_of(pp.list) == std::vector<Row>{
                                {"PIPAL/training/Distortion_3/A0149_00_00.bmp", (1500 - 868.2988) / (1857 - 868.2988), 1649},
                                {"PIPAL/validation/Dis/A0005_10_00.bmp", 1400, 1505}});
  CHECK(pp.official_split == std::vector<std::string>{"train", "test"});
  d.write("PIPAL/training/Train_Label/A0150.txt", "A0150_00_00.bmp,1500\n");
  CHECK_THAT(error_of([&] { load_source("pipal", {{d.str("PIPAL")}, ""}); }),
             Catch::Contains("A0150_00_00.bmp is in no"));
}

TEST_CASE("make-splits: scene and reference numbers past int, impossible vote counts name the file and line",
          "[data][reference]") {
  // Found by the score_files fuzzer: the digits went to std::stoi, whose out_of_range escaped as a
  // bare "stoi"; AVA's %lf read "inf" and negative counts into a NaN or meaningless mean.
  Dir d("test_reference_splits_bad");
  const std::string spaq_scores = d.write("MOS and Image attribute scores.csv", "Image name,MOS\n00002.jpg,70\n");
  const std::string scenes = d.write("scenes.csv", "Image name,Scene category\n00002.jpg,44444444445\n");
  CHECK_THAT(error_of([&] { load_source("spaq", {{spaq_scores}, scenes}); }),
             Catch::Contains(scenes + ":2: unknown scene '44444444445'"));
  const std::string piq = d.write("Scores_Overall.csv", "IMAGE PATH,JOD,SCENE\na.jpg,0.3,Scene_99999999999\n");
  CHECK_THAT(error_of([&] { load_source("piq23", {{piq}, ""}); }),
             Catch::Contains(":2: scene 'Scene_99999999999' does not end in _<0..99>"));
  // PIPAL's reference number went through sscanf's %d: past int's range glibc truncated it, so
  // A4294967301_ read as reference 5.
  for (const std::string& name : {"A4294967301_00_00.bmp", "A5x.bmp", "A 5_00.bmp"}) {
    d.write("PIPAL/training/Train_Label/A0001.txt", "");
    const std::string val = d.write("PIPAL/validation/val_label.txt", name + ",1400\n");
    CHECK_THAT(error_of([&] { load_source("pipal", {{d.str("PIPAL")}, ""}); }),
               Catch::Contains(val + ": line 1: '" + name + ",1400' is not 'A<ref>_<..>.bmp,<score>'"));
  }
  for (const std::string& votes : {"inf 1 5 17 38 36 15 6 5 1", "nan 1 5 17 38 36 15 6 5 1", "-9 10 0 0 0 0 0 0 0 0"}) {
    const std::string ava = d.write("AVA.txt", "1 953619 " + votes + " 1 22 1396\n");
    CHECK_THAT(error_of([&] { load_source("ava", {{ava}, ""}); }),
               Catch::Contains(ava + ": line 1: ") && Catch::Contains("is not '<index> <image id> <10 vote counts>"));
  }
}

TEST_CASE("make-splits: test-only datasets and the iqa layout", "[data][reference]") {
  Dir d("test_reference_splits");
  SourceData b = load_source("bid", {{d.write("bid.csv", "image,mos\n1,4.5\n3,1.3\n")}, ""});
  SplitOptions o;
  o.random_split = false;
  std::vector<std::string> files = write_protocols(b, o, d.str("ref"));
  CHECK(files == std::vector<std::string>{d.str("ref/all/bid_all.json"), d.str("ref/for_cross_set/test/bid.json")});
  CHECK(read_data_json(files[1]).entries.size() == 2);  // the whole set, as the reference's bid.json
  o.layout = "iqa";
  o.test_images = {"DatabaseImage0003.JPG"};
  files = write_protocols(b, o, d.str("iqa"));
  CHECK(files == std::vector<std::string>{d.str("iqa/all/bid.json"), d.str("iqa/cross_set/bid/train.json"),
                                          d.str("iqa/cross_set/bid/test.json")});
}

TEST_CASE("random splits: LIQE's split files as split_follow_liqe.py, EVA's 10 folds", "[data][reference]") {
  Dir d("test_reference_splits");
  const std::string all = d.write("data_json/all/live_all.json", R"({"files": [
    {"image": "LIVE/jp2k/img16.bmp", "score": 0.0, "dist_type": "jp2k", "domain_id": 700},
    {"image": "LIVE/jp2k/img55.bmp", "score": 65.5, "dist_type": "jp2k", "domain_id": 700},
    {"image": "LIVE/wn/img3.bmp", "score": 100.0, "dist_type": "wn", "domain_id": 702},
    {"image": "LIVE/jpeg/img7.bmp", "score": 20.0, "dist_type": "jpeg", "domain_id": 701}]})");
  const std::string liqe = d.str("sota/LIQE/IQA_Database/databaserelease2/splits2");
  d.write("sota/LIQE/IQA_Database/databaserelease2/splits2/1/live_train_clip.txt",
          "jpeg/img7.bmp\t20.0\tjpeg compression\thuman\tinvalid\tinvalid\n"
          "jp2k/img16.bmp\t0.0\tjpeg2000 compression\thuman\tinvalid\tinvalid\n"
          "jp2k/img999.bmp\t9\tjpeg2000 compression\thuman\tinvalid\tinvalid\n");
  d.write("sota/LIQE/IQA_Database/databaserelease2/splits2/1/live_val_clip.txt", "wn/img3.bmp\t100\twhite noise\n");
  d.write("sota/LIQE/IQA_Database/databaserelease2/splits2/1/live_test_clip.txt", "jp2k/img55.bmp\t65.5\tx\n");
  SourceData s = load_source("live", {{all}, ""});
  SplitOptions o;
  o.leave_one_out = o.cross_set = false;
  o.liqe_dir = liqe;
  o.random_count = 1;
  write_protocols(s, o, d.str("out"));
  // Listing order kept, LIVE's DMOS flipped to max - score (max 100); img999 is reported, not fatal.
  CHECK(rows_of(read_data_json(d.str("out/random_split/live/1/train.json"))) ==
        std::vector<Row>{{"LIVE/jp2k/img16.bmp", 100, 700}, {"LIVE/jpeg/img7.bmp", 80, 701}});
  CHECK(rows_of(read_data_json(d.str("out/random_split/live/1/val.json"))) ==
        std::vector<Row>{{"LIVE/wn/img3.bmp", 0, 702}});
  CHECK(rows_of(read_data_json(d.str("out/random_split/live/1/test.json"))) ==
        std::vector<Row>{{"LIVE/jp2k/img55.bmp", 34.5, 700}});
  o.random_count = 2;
  CHECK_THAT(error_of([&] { write_protocols(s, o, d.str("out")); }), Catch::Contains("2/live_train_clip.txt: LIQE split"));
  CHECK_THAT(error_of([&] { liqe_splits(s.list, "eva", liqe, 1); }), Catch::Contains("LIQE has no split files"));

  // BID: LIQE's ImageDatabase/ becomes the reference's BID/; a legacy BID/ImageDatabase/ path matches by its tail.
  d.write("bid/1/bid_train_clip.txt", "ImageDatabase/DatabaseImage0456.JPG\t3.18\trealistic blur\n");
  d.write("bid/1/bid_val_clip.txt", "ImageDatabase/DatabaseImage0457.JPG\t3.18\n");
  d.write("bid/1/bid_test_clip.txt", "ImageDatabase/DatabaseImage0458.JPG\t3.18\n");
  DatasetList bid;
  bid.entries = {{"BID/DatabaseImage0456.JPG", 3.18, 400}, {"BID/ImageDatabase/DatabaseImage0457.JPG", 2, 400},
                 {"BID/DatabaseImage0458.JPG", 1, 400}};
  Split b = liqe_splits(bid, "bid", d.str("bid"), 1)[0];
  CHECK(b.train.entries.size() == 1);
  CHECK(b.val.entries.at(0).image == "BID/ImageDatabase/DatabaseImage0457.JPG");
  CHECK(b.test.entries.at(0).image == "BID/DatabaseImage0458.JPG");

  // EVA: 10 folds of n/10 test images, train = the rest, no val.json (split_follow_liqe.py's AesCLIP folds).
  DatasetList eva;
  for (int i = 0; i < 23; ++i) eva.entries.push_back({cat("EVA/", i, ".jpg"), double(i), 1101 + i % 6});
  SourceData es{"eva", eva, {}};
  SplitOptions eo;
  eo.leave_one_out = eo.cross_set = false;
  write_protocols(es, eo, d.str("eva"));
  std::multiset<std::string> tested;
  for (int k = 1; k <= 10; ++k) {
    const std::string dir = d.str(cat("eva/random_split/eva/", k));
    CHECK_FALSE(fs::exists(dir + "/val.json"));
    const DatasetList te = read_data_json(dir + "/test.json");
    CHECK(te.entries.size() == 2);
    CHECK(read_data_json(dir + "/train.json").entries.size() == 21);
    for (const auto& e : te.entries) tested.insert(e.image);
  }
  CHECK(std::set<std::string>(tested.begin(), tested.end()).size() == 20);  // disjoint folds
}
