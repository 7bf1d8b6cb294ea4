// KADIS-style set generation behind tools/iqa-distort: listing, naming, id lists, per-reference type
// draws, the written images and CSV, the bad-image policy and resuming an interrupted run.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "training/image/decode.h"
#include "training/distort/distort.h"
#include "training/distort/set.h"
#include "training/image/encode.h"
#include "tests/testing.h"

using namespace iqa;
using iqa::testing::TempDir;
using iqa::testing::read_text;
namespace fs = std::filesystem;

namespace {

ImageU8 gradient_image(int W, int H, int phase) {
  ImageU8 img(W, H, 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      img.at(y, x, 0) = uint8_t((x * 255) / W);
      img.at(y, x, 1) = uint8_t(128 + 100 * std::sin(0.5 * (x + phase)) * std::cos(0.4 * y));
      img.at(y, x, 2) = uint8_t((y * 255) / H);
    }
  return img;
}

// Gaussian blur and white noise at levels 2 and 5, seed 3, PNG.
DistortSetOptions two_types_two_levels(const TempDir& in, const TempDir& out) {
  DistortSetOptions opts;
  opts.input_dir = in.path.string();
  opts.output_dir = out.path.string();
  opts.types = {1, 11};
  opts.levels = {2, 5};
  opts.seed = 3;
  opts.format = "png";
  return opts;
}

}  // namespace

TEST_CASE("distort set: id lists, names and per-reference types", "[data][distort]") {
  REQUIRE(parse_id_list("1,3,7-9", 1, 25, true) == std::vector<int>{1, 3, 7, 8, 9});
  REQUIRE(parse_id_list("jpeg2000,10,9", 1, 25, true) == std::vector<int>{9, 10});
  REQUIRE(parse_id_list("1-5", 1, 5, false) == std::vector<int>{1, 2, 3, 4, 5});
  REQUIRE_THROWS_AS(parse_id_list("0-3", 1, 25, true), Error);
  REQUIRE_THROWS_AS(parse_id_list("26", 1, 25, true), Error);
  REQUIRE_THROWS_AS(parse_id_list("jpeg", 1, 5, false), Error);
  REQUIRE_THROWS_AS(parse_id_list("3x", 1, 25, true), Error);
  REQUIRE_THROWS_AS(parse_id_list("", 1, 25, true), Error);
  REQUIRE(distorted_image_name("I81", 3, 5, "bmp") == "I81_03_05.bmp");

  std::vector<int> all;
  for (int t = 1; t <= 25; ++t) all.push_back(t);
  REQUIRE(types_for_reference("a.png", all, 0, 1) == all);
  auto one = types_for_reference("a.png", all, 1, 1);
  REQUIRE(one.size() == 1);
  REQUIRE(types_for_reference("a.png", all, 1, 1) == one);  // deterministic
  auto three = types_for_reference("b.png", all, 3, 1);
  REQUIRE(three.size() == 3);
  REQUIRE((three[0] < three[1] && three[1] < three[2]));
  // Across many names every type gets drawn: the draw is spread over the whole list.
  std::vector<int> seen(26, 0);
  for (int i = 0; i < 500; ++i) seen[size_t(types_for_reference("img" + std::to_string(i), all, 1, 7)[0])] = 1;
  for (int t = 1; t <= 25; ++t) REQUIRE(seen[size_t(t)] == 1);
}

TEST_CASE("distort set: writes KADIS names, exact pixels and the CSV, bad images fail or skip", "[data][distort]") {
  TempDir in("distort_in"), out("distort_out");
  write_png((in.path / "b_ref.png").string(), gradient_image(40, 36, 0));
  write_bmp((in.path / "a_ref.bmp").string(), gradient_image(33, 30, 5));
  { std::ofstream(in.path / "notes.txt") << "not an image"; }
  REQUIRE(list_reference_images(in.path.string()) == std::vector<std::string>{"a_ref.bmp", "b_ref.png"});

  DistortSetOptions opts = two_types_two_levels(in, out);
  size_t calls = 0;
  DistortSetResult r = generate_distorted_set(opts, [&](const DistortSetProgress& p) {
    ++calls;
    REQUIRE(p.total == 2);
    REQUIRE(p.written == 4);
  });
  REQUIRE(calls == 2);
  REQUIRE(r.references == 2);
  REQUIRE(r.images_written == 8);
  REQUIRE(r.skipped == 0);
  REQUIRE(read_text(r.csv_path) ==
          "image,reference,type,level\n"
          "a_ref_01_02.png,a_ref.bmp,1,2\na_ref_01_05.png,a_ref.bmp,1,5\n"
          "a_ref_11_02.png,a_ref.bmp,11,2\na_ref_11_05.png,a_ref.bmp,11,5\n"
          "b_ref_01_02.png,b_ref.png,1,2\nb_ref_01_05.png,b_ref.png,1,5\n"
          "b_ref_11_02.png,b_ref.png,11,2\nb_ref_11_05.png,b_ref.png,11,5\n");
  // The written PNG holds exactly the wrapper's output for that reference, rounded to 8 bits.
  const ImageF ref = to_float(decode_image((in.path / "b_ref.png").string()));
  ImageU8 written = decode_image((out.path / "b_ref_01_05.png").string());
  REQUIRE(written.pixels == to_u8(kadis_distort(ref, 1, 5, 0)).pixels);
  // Rerunning gives identical noise (same seed); another seed gives other noise.
  const ImageU8 noisy = decode_image((out.path / "b_ref_11_05.png").string());
  generate_distorted_set(opts);
  REQUIRE(decode_image((out.path / "b_ref_11_05.png").string()).pixels == noisy.pixels);
  opts.seed = 4;
  generate_distorted_set(opts);
  REQUIRE(decode_image((out.path / "b_ref_11_05.png").string()).pixels != noisy.pixels);

  // A corrupt reference: the error names it; with skipping it is counted and left out of the CSV.
  { std::ofstream(in.path / "c_bad.jpg") << "truncated"; }
  try {
    generate_distorted_set(opts);
    FAIL("expected an error for c_bad.jpg");
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()).find("c_bad.jpg") != std::string::npos);
  }
  opts.skip_bad_images = true;
  r = generate_distorted_set(opts);
  REQUIRE(r.skipped == 1);
  REQUIRE(r.images_written == 8);
  REQUIRE(read_text(r.csv_path).find("c_bad") == std::string::npos);
  opts.format = "tiff";
  REQUIRE_THROWS_AS(generate_distorted_set(opts), Error);
}

TEST_CASE("distort set: --resume keeps the interrupted run's images and remakes the rest", "[data][distort]") {
  TempDir in("distort_resume_in"), out("distort_resume_out");
  write_png((in.path / "a_ref.png").string(), gradient_image(40, 36, 0));
  write_png((in.path / "b_ref.png").string(), gradient_image(33, 30, 5));
  DistortSetOptions opts = two_types_two_levels(in, out);
  const DistortSetResult whole = generate_distorted_set(opts);
  const std::string csv = read_text(whole.csv_path);
  const std::string record = (out.path / ".iqa-distort-options").string();
  CHECK(read_text(record) == "iqa-distort options 1\nseed 3\nformat png\ntypes 1,11\nlevels 2,5\ntypes_per_image 0\n");
  const auto bytes_of = [&](const std::string& name) { return read_text((out.path / name).string()); };
  const std::string noisy = bytes_of("b_ref_11_05.png"), blurred = bytes_of("a_ref_01_02.png");

  // What a killed run leaves: one image not yet written, one older than the run (an earlier run's, made
  // with other options: its bytes are wrong), the CSV not yet written; the rest whole and this run's.
  fs::remove(out.path / "b_ref_11_05.png");
  { std::ofstream(out.path / "a_ref_01_02.png", std::ios::binary) << "an earlier run's image"; }
  fs::last_write_time(out.path / "a_ref_01_02.png", fs::last_write_time(record) - std::chrono::hours(1));
  fs::remove(whole.csv_path);
  const auto untouched = fs::last_write_time(out.path / "a_ref_11_05.png");

  opts.resume = true;
  size_t kept_reported = 0;
  const DistortSetResult resumed =
      generate_distorted_set(opts, [&](const DistortSetProgress& p) { kept_reported += size_t(p.kept); });
  CHECK(resumed.images_written == 2);
  CHECK(resumed.images_kept == 6);
  CHECK(kept_reported == 6);
  CHECK(read_text(resumed.csv_path) == csv);
  CHECK(bytes_of("b_ref_11_05.png") == noisy);    // the same seed's noise again
  CHECK(bytes_of("a_ref_01_02.png") == blurred);  // the earlier run's image made again
  CHECK(fs::last_write_time(out.path / "a_ref_11_05.png") == untouched);  // kept, not rewritten

  // Other options than the record's: refused, naming the record and the difference.
  opts.seed = 4;
  CHECK_THAT(testing::error_of([&] { generate_distorted_set(opts); }),
             Catch::Contains("iqa-distort --resume: " + record) && Catch::Contains("'seed 3' there, 'seed 4' now"));
  // A fresh start (no --resume) records its own options; a resume after it keeps nothing older.
  opts.resume = false;
  generate_distorted_set(opts);
  CHECK(read_text(record).find("seed 4\n") != std::string::npos);
  CHECK(bytes_of("b_ref_11_05.png") != noisy);
}
