// TIFF decoding (PIQ23's .tif/.tiff photos): files written here with libtiff in the layouts PIQ23 and
// cameras use (8- and 16-bit RGB; none, LZW, Deflate, PackBits; strips and tiles), read back through
// the common decode entry points.
#include <catch2/catch.hpp>

#include <tiffio.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include "tests/data/reference_fixtures.h"
#include "training/image/decode.h"

using namespace iqa;
namespace fs = std::filesystem;

namespace {

std::string tiff_path(const std::string& name) {
  return (fs::temp_directory_path() / ("iqa_test_tiff_" + std::to_string(getpid()) + "_" + name)).string();
}

// Pixel (x, y) channel c of the test pattern, on 16 bits.
uint16_t pattern(int x, int y, int c) { return uint16_t((x * 4099 + y * 257 + c * 20000) & 0xFFFF); }

// Writes a w x h RGB TIFF; tile > 0 writes tiles of that size instead of strips.
void write_tiff(const std::string& path, int w, int h, int bits, uint16_t compression, int tile = 0) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  REQUIRE(t);
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, uint32_t(w));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, uint32_t(h));
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, uint16_t(3));
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, uint16_t(bits));
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, compression);
  const size_t bytes = size_t(bits / 8);
  auto fill = [&](std::vector<uint8_t>& buf, int x0, int y0, int bw, int bh) {
    for (int y = 0; y < bh; ++y)
      for (int x = 0; x < bw; ++x)
        for (int c = 0; c < 3; ++c) {
          const uint16_t v = (x0 + x < w && y0 + y < h) ? pattern(x0 + x, y0 + y, c) : 0;
          const size_t at = ((size_t(y) * size_t(bw) + size_t(x)) * 3 + size_t(c)) * bytes;
          if (bits == 8) buf[at] = uint8_t(v >> 8);
          else std::memcpy(&buf[at], &v, 2);  // host order, as libtiff expects
        }
  };
  if (tile > 0) {
    TIFFSetField(t, TIFFTAG_TILEWIDTH, uint32_t(tile));
    TIFFSetField(t, TIFFTAG_TILELENGTH, uint32_t(tile));
    std::vector<uint8_t> buf(size_t(tile) * size_t(tile) * 3 * bytes);
    for (int y = 0; y < h; y += tile)
      for (int x = 0; x < w; x += tile) {
        fill(buf, x, y, tile, tile);
        REQUIRE(TIFFWriteTile(t, buf.data(), uint32_t(x), uint32_t(y), 0, 0) >= 0);
      }
  } else {
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, uint32_t(3));
    std::vector<uint8_t> row(size_t(w) * 3 * bytes);
    for (int y = 0; y < h; ++y) {
      fill(row, 0, y, w, 1);
      REQUIRE(TIFFWriteScanline(t, row.data(), uint32_t(y), 0) == 1);
    }
  }
  TIFFClose(t);
}

// Every pixel equals the 8-bit value of the pattern: the high byte that 8-bit files store, or
// libtiff's rounding of 16-bit samples, (v * 255 + 32767) / 65535.
int64_t mismatches(const ImageU8& img, int bits) {
  int64_t bad = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c)
        bad += img.pixels[(size_t(y) * size_t(img.width) + size_t(x)) * 3 + size_t(c)] !=
               (bits == 8 ? pattern(x, y, c) >> 8 : (uint32_t(pattern(x, y, c)) * 255 + 32767) / 65535);
  return bad;
}

const auto& error_of = iqa::fixtures::error_message_of;

}  // namespace

TEST_CASE("TIFF: 8- and 16-bit RGB in strips and tiles, PIQ23's compressions, decode exactly", "[data][decode]") {
  struct Case { int bits; uint16_t compression; int tile; const char* name; };
  const Case cases[] = {{8, COMPRESSION_NONE, 0, "none8.tif"},        {8, COMPRESSION_LZW, 0, "lzw8.tiff"},
                        {8, COMPRESSION_ADOBE_DEFLATE, 0, "zip8.tif"}, {8, COMPRESSION_PACKBITS, 0, "pack8.tif"},
                        {16, COMPRESSION_NONE, 0, "none16.tif"},      {16, COMPRESSION_LZW, 0, "lzw16.tif"},
                        {16, COMPRESSION_ADOBE_DEFLATE, 16, "tiled16.tif"}};
  for (const Case& k : cases) {
    INFO(k.name);
    REQUIRE(TIFFIsCODECConfigured(k.compression));
    const std::string path = tiff_path(k.name);
    write_tiff(path, 37, 23, k.bits, k.compression, k.tile);
    const ImageInfo info = probe_image(path);
    CHECK(info.format == ImageFormat::Tiff);
    CHECK(info.width == 37);
    CHECK(info.height == 23);
    CHECK(info.extension_matches);
    const ImageU8 img = decode_image(path);
    REQUIRE(img.width == 37);
    REQUIRE(img.height == 23);
    REQUIRE(img.channels == 3);
    CHECK(mismatches(img, k.bits) == 0);
    fs::remove(path);
  }
  CHECK(image_format_from_extension("PIQ23/Overall/3_Outdoor_Scene_49.TIFF") == ImageFormat::Tiff);
  CHECK(std::string(image_format_name(ImageFormat::Tiff)) == "TIFF");
}

TEST_CASE("TIFF: truncated, corrupt and oversized files throw errors naming the file", "[data][decode]") {
  const std::string path = tiff_path("cut.tif");
  write_tiff(path, 40, 30, 8, COMPRESSION_NONE);
  std::vector<uint8_t> bytes = read_file_bytes(path);
  fs::remove(path);
  REQUIRE(detect_image_format(bytes.data(), bytes.size()) == ImageFormat::Tiff);
  // Keep the header, cut the pixel data: libtiff's message is part of the error.
  const std::vector<uint8_t> head(bytes.begin(), bytes.begin() + 16);
  CHECK_THAT(error_of([&] { decode_image_memory(head.data(), head.size(), "cut.tif"); }),
             Catch::StartsWith("cut.tif: "));
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(bytes.size() / 2));
  // Strips are at the front, directory at the end: half a file has no directory left.
  CHECK_THAT(error_of([&] { decode_image_memory(cut.data(), cut.size(), "half.tif"); }),
             Catch::StartsWith("half.tif: "));
  const uint8_t junk[8] = {'I', 'I', 42, 0, 0xFF, 0xFF, 0xFF, 0x7F};
  CHECK_THAT(error_of([&] { decode_image_memory(junk, sizeof junk, "junk.tif"); }),
             Catch::StartsWith("junk.tif: not a readable TIFF"));
  DecodeOptions tight;
  tight.max_pixels = 100;
  CHECK_THAT(error_of([&] { decode_image_memory(bytes.data(), bytes.size(), "big.tif", tight); }),
             Catch::Contains("over the limit of 100"));
  CHECK(decode_image_memory(bytes.data(), bytes.size(), "ok.tif").width == 40);
}
