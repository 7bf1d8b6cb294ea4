// training/image/encode.h's writers replace an image whole or not at all: a write that fails (here
// under a file-size limit, as on a full disk; a kill midway is the same for the target) keeps the
// earlier image byte for byte, leaves no temporary file and names the path.
#include <sys/resource.h>

#include <csignal>
#include <filesystem>

#include "training/image/decode.h"
#include "training/image/encode.h"
#include "tests/testing.h"

using namespace iqa;
using iqa::testing::error_of;
using iqa::testing::read_text;
using iqa::testing::TempDir;
using Catch::Contains;

namespace {

ImageU8 noise_image(int w, int h, uint32_t seed) {  // incompressible, so the PNG is large
  ImageU8 img(w, h, 3);
  for (uint8_t& p : img.pixels) {
    seed = seed * 1664525u + 1013904223u;
    p = uint8_t(seed >> 24);
  }
  return img;
}

size_t files_in(const std::filesystem::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("image writers: a failed write keeps the earlier image and names the path", "[data][decode]") {
  TempDir dir("image_write");
  const std::string path = dir.file("kadis_01_03.png");
  const ImageU8 small = noise_image(16, 16, 1), large = noise_image(96, 96, 2);
  write_png(path, small);
  const std::string before = read_text(path);
  REQUIRE(decode_image(path).pixels == small.pixels);

  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limit = old;
  limit.rlim_cur = 8192;  // the 96x96 noise PNG is about 27 KiB
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  const std::string png_error = error_of([&] { write_png(path, large); });
  const std::string bmp_error = error_of([&] { write_bmp(path, large); });
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  for (const std::string& message : {png_error, bmp_error}) {
    INFO(message);
    CHECK_THAT(message, Contains("image writer: " + path + " not written (") &&
                            Contains("any earlier file is kept): image writer: write failed: File too large"));
  }
  CHECK(read_text(path) == before);
  CHECK(files_in(dir.path) == 1);

  write_png(path, large);  // without the limit: replaced whole
  CHECK(decode_image(path).pixels == large.pixels);
  CHECK(files_in(dir.path) == 1);
}
