// make-splits on the datasets' official files as shipped: SPAQ's, BID's, CID2013's and CSIQ's .xlsx sheets and
// LIVE Challenge's and LIVE's MATLAB .mat variables (tests/fixtures/official/, written by
// make_official_files.py in the authors' layouts). A build configured without libzip/libexpat or
// libmatio must say which package is missing instead.
#include <catch2/catch.hpp>

#include "tests/data/reference_fixtures.h"
#include "tests/fixture_paths.h"
#include "training/data/mat_reader.h"
#include "training/data/splits.h"
#include "training/data/xlsx_reader.h"

using namespace iqa;
using namespace iqa::fixtures;
using Catch::Contains;

namespace {
std::string official(const std::string& name) { return (testing::fixtures_dir() / "official" / name).string(); }
}  // namespace

TEST_CASE("xlsx: SPAQ's two sheets as shipped give the reference's rows", "[data][official]") {
  const std::string mos = official("MOS and Image attribute scores.xlsx");
  const std::string scenes = official("Scene category labels.xlsx");
  if (!xlsx_supported()) {
    CHECK_THAT(error_message_of([&] { read_xlsx(mos); }), Contains("install libzip-dev and libexpat1-dev"));
    return;
  }
  const CsvTable t = read_xlsx(mos);
  CHECK(t.name == mos + " [sheet 'Sheet1']");
  CHECK(t.header == std::vector<std::string>{"Image name", "MOS", "Brightness", "Colorfulness"});  // two runs joined
  REQUIRE(t.rows.size() == 3);  // the blank row 4 is dropped
  CHECK(t.rows[1] == std::vector<std::string>{"00005.jpg", "22.71", "30", "25.5"});  // an inline string
  CHECK(t.row_lines == std::vector<int>{2, 3, 5});
  CHECK(xlsx_sheet_names(mos) == std::vector<std::string>{"Sheet1"});

  // 00001.jpg is labelled Cityscape, Night scene and Still-life: the reference's listing picked Night scene.
  FixtureDir d("official_spaq");
  SourceFiles f{{mos}, scenes};
  f.scene_choice = d.write("spaq_all.json", R"({"files": [
    {"image": "SPAQ/TestImage/00001.jpg", "score": 48.86, "domain_id": 105}]})");
  const SourceData s = load_source("spaq", f);
  CHECK(rows_of(s.list) == std::vector<Row>{{"SPAQ/TestImage/00001.jpg", 48.86, 105},
                                            {"SPAQ/TestImage/00005.jpg", 22.71, 103},
                                            {"SPAQ/TestImage/00010.jpg", 71.2, 108}});
  CHECK(s.list.entries[2].scene == "Others");
}

TEST_CASE("xlsx: BID's DatabaseGrades and CID2013's second sheet", "[data][official]") {
  if (!xlsx_supported()) return;  // the SPAQ case checks the message
  // BID: the reference reads the first two columns (image number, grade) whatever their titles.
  CHECK(rows_of(load_source("bid", {{official("DatabaseGrades.xlsx")}, ""}).list) ==
        std::vector<Row>{{"BID/DatabaseImage0001.JPG", 4.516640224615385, 400}, {"BID/DatabaseImage0002.JPG", 2.25, 400}});
  const std::string cid = official("CID2013 data.xlsx");
  CHECK(xlsx_sheet_names(cid) == std::vector<std::string>{"Info", "CID2013 MOS"});
  CHECK(rows_of(load_source("cid2013", {{cid}, ""}).list) ==
        std::vector<Row>{{"CID2013/IS_I_C01_D01.jpg", 57.5, 450}, {"CID2013/IS_I_C01_D02.jpg", 61.25, 450}});
}

TEST_CASE("xlsx: CSIQ's csiq.DMOS.xlsx, its all_by_image sheet", "[data][official]") {
  if (!xlsx_supported()) return;  // the SPAQ case checks the message
  const std::string dmos = official("csiq.DMOS.xlsx");
  CHECK(xlsx_sheet_names(dmos) == std::vector<std::string>{"all_by_distortion", "all_by_image"});
  // Found by name on the second sheet; numeric image names (number cells) and "jpeg 2000" map to the
  // file names hyperIQA's csiq_label.txt lists and the reference's folders and ids.
  const SourceData s = load_source("csiq", {{dmos}, ""});
  CHECK(rows_of(s.list) == std::vector<Row>{{"CSIQ/dst_imgs/awgn/1600.AWGN.1.png", 0.061989, 800},
                                            {"CSIQ/dst_imgs/fnoise/1600.fnoise.2.png", 0.25, 803},
                                            {"CSIQ/dst_imgs/jpeg2000/aerial_city.jpeg2000.3.png", 0.3, 805}});
  CHECK(s.list.entries[0].reference == "1600.png");
  const std::string bad = official("bad_csiq.xlsx");
  CHECK_THAT(error_message_of([&] { load_source("csiq", {{bad}, ""}); }),
             Contains(bad + " [sheet 'all_by_image']:3: unknown CSIQ distortion 'gaussian'"));
}

TEST_CASE("xlsx: a bad cell names the file the sheet and the row", "[data][official]") {
  if (!xlsx_supported()) return;
  const std::string bad = official("bad_mos.xlsx");
  CHECK_THAT(error_message_of([&] { load_source("spaq", {{bad}, official("Scene category labels.xlsx")}); }),
             Contains(bad + " [sheet 'Scores']:3: column 'MOS': 'n/a' is not a number"));
  FixtureDir d("official_bad_xlsx");
  const std::string not_zip = d.write("scores.xlsx", "Image name,MOS\n");
  CHECK_THAT(error_message_of([&] { read_xlsx(not_zip); }), Contains("scores.xlsx: not a readable .xlsx (zip) file"));
  CHECK(read_xlsx(bad, {"Missing sheet"}).name == bad + " [sheet 'Scores']");  // no such sheet: the first
}

TEST_CASE("mat: LIVE Challenge's AllImages_release and AllMOS_release", "[data][official]") {
  const std::string images = official("AllImages_release.mat"), mos = official("AllMOS_release.mat");
  if (!mat_supported()) {
    CHECK_THAT(error_message_of([&] { mat_variables(images); }), Contains("install libmatio-dev"));
    return;
  }
  CHECK(mat_variables(images) == std::vector<std::string>{"AllImages_release"});
  const std::vector<Row> expected = {{"LIVEChallenge/Images/t1.bmp", 63.963406174124174, 200},
                                     {"LIVEChallenge/Images/t2.bmp", 25.33, 200},
                                     {"LIVEChallenge/Images/1000.JPG", 70.5, 200},
                                     {"LIVEChallenge/Images/1001.JPG", 48.125, 200}};
  CHECK(rows_of(load_source("livec", {{images, mos}, ""}).list) == expected);
  CHECK(rows_of(load_source("livec", {{mos, images}, ""}).list) == expected);  // either order

  const std::string short_mos = official("short_AllMOS_release.mat");
  CHECK_THAT(error_message_of([&] { load_source("livec", {{images, short_mos}, ""}); }),
             Contains("lists 4 images (AllImages_release) but") && Contains("short_AllMOS_release.mat holds 3 scores"));
  CHECK_THAT(error_message_of([&] { load_source("livec", {{images}, ""}); }),
             Contains("livec: no --scores .mat file holds the variable 'AllMOS_release'"));
  CHECK_THAT(error_message_of([&] { mat_numbers(images, "AllMOS_release"); }),
             Contains("AllImages_release.mat: no variable 'AllMOS_release' (the file holds: AllImages_release)"));
  CHECK_THAT(error_message_of([&] { mat_strings(mos, "AllMOS_release"); }),
             Contains("variable 'AllMOS_release' is not a cell array of names"));
  CHECK_THAT(error_message_of([&] { mat_numbers(images, "AllImages_release"); }), Contains("is not a numeric array"));
  FixtureDir d("official_bad_mat");
  CHECK_THAT(error_message_of([&] { mat_variables(d.write("x.mat", "MATLAB? no")); }),
             Contains("x.mat: not a readable MATLAB .mat file"));
  // The fuzzer's input whose cell array became a function handle (libmatio leaked reading it) ...
  const std::string function_class =
      (testing::fixtures_dir().parent_path() / "fuzz/regressions/fuzz_mat/function_class_leak").string();
  CHECK_THAT(error_message_of([&] { mat_strings(function_class, "AllImages_release"); }),
             Contains("function_class_leak: the array at byte 128 has class 16"));
  // ... and the one whose first variable's size became 0 (libmatio then asked for 2 GB).
  const std::string zero_size =
      (testing::fixtures_dir().parent_path() / "fuzz/regressions/fuzz_mat/zero_size_variable").string();
  CHECK_THAT(error_message_of([&] { mat_numbers(zero_size, "AllMOS_release"); }),
             Contains("zero_size_variable: the variable at byte 128 is an array of 0 bytes"));
  // ... and the one whose third name's tag became type 0 (libmatio then read a 2 GB data size).
  const std::string bad_name = (testing::fixtures_dir().parent_path() / "fuzz/regressions/fuzz_mat/name_not_int8").string();
  CHECK_THAT(error_message_of([&] { mat_strings(bad_name, "AllImages_release"); }),
             Contains("name_not_int8: the array at byte 328 has a name element of type 0"));
}

TEST_CASE("mat: LIVE release 2's dmos_realigned and refnames_all in hyperIQA's image order", "[data][official]") {
  if (!mat_supported()) return;  // the LIVE Challenge case checks the message
  const std::string dmos = official("dmos_realigned.mat"), refs = official("refnames_all.mat");
  CHECK(mat_numbers(dmos, "orgs").size() == 982);
  const SourceData s = load_source("live", {{dmos, refs}, ""});
  REQUIRE(s.list.entries.size() == 982);  // references' copies (DMOS 0) included
  const auto rows = rows_of(s.list);
  CHECK(rows[0] == Row{"LIVE/jp2k/img1.bmp", 0.0, 700});
  CHECK(rows[226] == Row{"LIVE/jp2k/img227.bmp", 22.6, 700});
  CHECK(rows[227] == Row{"LIVE/jpeg/img1.bmp", 22.7, 701});
  CHECK(rows[460] == Row{"LIVE/wn/img1.bmp", 0.0, 702});
  CHECK(rows[981] == Row{"LIVE/fastfading/img174.bmp", 98.1, 704});
  CHECK(s.list.entries[1].reference == "buildings.bmp");
  CHECK_THAT(error_message_of([&] { load_source("live", {{dmos, official("AllImages_release.mat")}, ""}); }),
             Contains("live: no --scores .mat file holds the variable 'refnames_all'"));
}
