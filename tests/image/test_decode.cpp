// Decoders and encoders: round trips, color-space conversions, DCT scaling, and bad files.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include "training/image/decode.h"
#include "training/image/encode.h"
#include "tests/testing.h"

using namespace iqa;
using iqa::testing::TempDir;

namespace {

// Smooth gradients with a few sharp edges: compresses well, so JPEG errors stay small.
ImageU8 synthetic_image(int w, int h, int channels = 3) {
  ImageU8 img(w, h, channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) {
        int v = c == 0 ? x * 255 / (w - 1) : c == 1 ? y * 255 / (h - 1) : (x + 2 * y) * 255 / (w + 2 * h - 3);
        if (x > w / 3 && x < w / 2 && y > h / 4 && y < h / 2) v = 255 - v;  // a sharp-edged block
        img.at(y, x, c) = uint8_t(v);
      }
  return img;
}

double psnr(const ImageU8& a, const ImageU8& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) se += std::pow(double(a.pixels[i]) - double(b.pixels[i]), 2);
  double mse = se / double(a.pixels.size());
  return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

// Gray image as RGB: each channel the gray value.
ImageU8 gray_to_rgb(const ImageU8& g) {
  ImageU8 out(g.width, g.height, 3);
  for (size_t i = 0; i < g.pixels.size(); ++i) out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = g.pixels[i];
  return out;
}

void require_error_naming(const std::function<void()>& fn, const std::string& name, const std::string& also = "") {
  try {
    fn();
    FAIL("expected iqa::Error for " << name);
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO("message: " << msg);
    REQUIRE(msg.find(name) != std::string::npos);
    if (!also.empty()) REQUIRE(msg.find(also) != std::string::npos);
  }
}

// Writes a CMYK (or, with ycck, YCCK-coded) JPEG with libjpeg directly; jpeg_set_defaults adds the
// Adobe marker, so the stored values follow Adobe's inverted convention.
std::vector<uint8_t> encode_cmyk_jpeg(const std::vector<uint8_t>& cmyk, int w, int h, bool ycck) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = JDIMENSION(w);
  cinfo.image_height = JDIMENSION(h);
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  if (ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK);
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(cmyk.data()) + size_t(cinfo.next_scanline) * w * 4;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

// Writes a PNG with libpng directly: any bit depth / color type, optional palette and tRNS, Adam7.
struct RawPng {
  int width = 0, height = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  bool interlaced = false;
  std::vector<png_color> palette;
  std::vector<png_byte> trns;
  std::vector<std::vector<png_byte>> rows;  // packed as the PNG stores them (16-bit big-endian)
};

void write_raw_png(const std::string& path, RawPng& p) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(p.width), png_uint_32(p.height), p.bit_depth, p.color_type,
               p.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!p.palette.empty()) png_set_PLTE(png, info, p.palette.data(), int(p.palette.size()));
  if (!p.trns.empty()) png_set_tRNS(png, info, p.trns.data(), int(p.trns.size()), nullptr);
  png_write_info(png, info);
  if (p.interlaced) png_set_interlace_handling(png);
  std::vector<png_bytep> rows;
  for (auto& r : p.rows) rows.push_back(r.data());
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

// Little-endian BMP builder for hand-made headers.
struct BmpBytes {
  std::vector<uint8_t> b;
  void u16(uint32_t v) { b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8)); }
  void u32(uint32_t v) { u16(v & 0xFFFF), u16(v >> 16); }
};

// BITMAPINFOHEADER bitmap; pixel rows given in file order, each already padded.
std::vector<uint8_t> make_bmp(int w, int h, int bpp, uint32_t compression, const std::vector<uint8_t>& extra,
                              const std::vector<uint8_t>& pixel_rows) {
  BmpBytes f;
  const uint32_t offset = 14 + 40 + uint32_t(extra.size());
  f.b.push_back('B'), f.b.push_back('M');
  f.u32(offset + uint32_t(pixel_rows.size())), f.u32(0), f.u32(offset);
  f.u32(40), f.u32(uint32_t(w)), f.u32(uint32_t(h)), f.u16(1), f.u16(uint32_t(bpp)), f.u32(compression);
  f.u32(uint32_t(pixel_rows.size())), f.u32(2835), f.u32(2835), f.u32(0), f.u32(0);
  f.b.insert(f.b.end(), extra.begin(), extra.end());
  f.b.insert(f.b.end(), pixel_rows.begin(), pixel_rows.end());
  return f.b;
}

}  // namespace

TEST_CASE("PNG and BMP round trips are lossless", "[data][decode]") {
  TempDir dir;
  for (auto [w, h] : {std::pair{37, 23}, std::pair{64, 48}, std::pair{1, 1}}) {
    ImageU8 img = synthetic_image(std::max(w, 2), std::max(h, 2));
    write_png(dir.file("a.png"), img);
    write_bmp(dir.file("a.bmp"), img);  // 37 * 3 = 111 bytes per row: exercises the row padding
    ImageU8 p = decode_image(dir.file("a.png")), b = decode_image(dir.file("a.bmp"));
    REQUIRE(p.width == img.width);
    REQUIRE(p.height == img.height);
    REQUIRE(p.channels == 3);
    REQUIRE(p.pixels == img.pixels);
    REQUIRE(b.pixels == img.pixels);
  }
  // Gray images are written as gray PNGs and read back as RGB.
  ImageU8 gray = synthetic_image(19, 11, 1);
  write_png(dir.file("g.png"), gray);
  REQUIRE(decode_image(dir.file("g.png")).pixels == gray_to_rgb(gray).pixels);
  REQUIRE(decode_image_memory(encode_bmp(gray).data(), encode_bmp(gray).size(), "<memory>").pixels ==
          gray_to_rgb(gray).pixels);
}

TEST_CASE("JPEG round trip at quality 95 stays within a PSNR bound", "[data][decode]") {
  TempDir dir;
  ImageU8 img = synthetic_image(96, 72);
  write_jpeg(dir.file("a.jpg"), img, 95);
  ImageU8 back = decode_image(dir.file("a.jpg"));
  REQUIRE(back.width == 96);
  REQUIRE(back.height == 72);
  REQUIRE(back.channels == 3);
  const double q95 = psnr(img, back);
  CHECK(q95 > 40.0);  // 44.4 dB measured with libjpeg-turbo
  // Lower quality, lower fidelity.
  std::vector<uint8_t> q20 = encode_jpeg(img, 20);
  ImageU8 back20 = decode_image_memory(q20.data(), q20.size(), "<memory>");
  CHECK(psnr(img, back20) < q95 - 3.0);
  CHECK(q20.size() < read_file_bytes(dir.file("a.jpg")).size());
}

TEST_CASE("grayscale JPEG decodes to RGB", "[data][decode]") {
  ImageU8 gray = synthetic_image(40, 30, 1);
  std::vector<uint8_t> bytes = encode_jpeg(gray, 95);
  ImageU8 rgb = decode_image_memory(bytes.data(), bytes.size(), "gray.jpg");
  REQUIRE(rgb.channels == 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    REQUIRE(rgb.pixels[3 * i] == rgb.pixels[3 * i + 1]);
    REQUIRE(rgb.pixels[3 * i] == rgb.pixels[3 * i + 2]);
  }
  CHECK(psnr(gray_to_rgb(gray), rgb) > 45.0);  // 53 dB measured
}

TEST_CASE("CMYK and YCCK JPEGs decode to RGB with Adobe's inverted convention", "[data][decode]") {
  // Four flat 16x16 blocks (flat blocks survive JPEG at quality 100 almost exactly). Stored values are
  // Adobe-inverted (255 = no ink), so R = C*K/255, G = M*K/255, B = Y*K/255.
  const uint8_t blocks[4][4] = {{255, 128, 0, 255}, {255, 255, 255, 200}, {40, 200, 120, 255}, {100, 150, 250, 128}};
  const int w = 32, h = 32;
  std::vector<uint8_t> cmyk(size_t(w) * h * 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 4; ++c) cmyk[(size_t(y) * w + x) * 4 + c] = blocks[(y / 16) * 2 + x / 16][c];
  for (bool ycck : {false, true}) {
    INFO((ycck ? "YCCK" : "CMYK"));
    std::vector<uint8_t> bytes = encode_cmyk_jpeg(cmyk, w, h, ycck);
    ImageU8 rgb = decode_image_memory(bytes.data(), bytes.size(), "cmyk.jpg");
    REQUIRE(rgb.channels == 3);
    for (int b = 0; b < 4; ++b) {
      const int y = (b / 2) * 16 + 8, x = (b % 2) * 16 + 8;
      const int k = blocks[b][3];
      for (int c = 0; c < 3; ++c) {
        const double expected = double(blocks[b][c]) * k / 255.0;
        INFO("block " << b << " channel " << c << " got " << int(rgb.at(y, x, c)) << " expected " << expected);
        REQUIRE(std::abs(double(rgb.at(y, x, c)) - expected) <= 3.0);
      }
    }
  }
}

TEST_CASE("16-bit, palette, gray+alpha and interlaced PNGs decode to 8-bit RGB", "[data][decode]") {
  TempDir dir;
  SECTION("16-bit RGB keeps the high byte") {
    RawPng p;
    p.width = 3, p.height = 2, p.bit_depth = 16;
    for (int y = 0; y < 2; ++y) {
      std::vector<png_byte> row;
      for (int x = 0; x < 3; ++x)
        for (int c = 0; c < 3; ++c) row.push_back(png_byte(40 * x + 10 * c + 100 * y)), row.push_back(0xEE);
      p.rows.push_back(row);
    }
    write_raw_png(dir.file("a16.png"), p);
    ImageU8 img = decode_image(dir.file("a16.png"));
    REQUIRE(img.width == 3);
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x)
        for (int c = 0; c < 3; ++c) REQUIRE(int(img.at(y, x, c)) == 40 * x + 10 * c + 100 * y);
  }
  SECTION("16-bit gray") {
    RawPng p;
    p.width = 2, p.height = 1, p.bit_depth = 16, p.color_type = PNG_COLOR_TYPE_GRAY;
    p.rows = {{0x12, 0x34, 0xFF, 0x00}};
    write_raw_png(dir.file("g16.png"), p);
    ImageU8 img = decode_image(dir.file("g16.png"));
    REQUIRE(img.pixels == std::vector<uint8_t>{0x12, 0x12, 0x12, 0xFF, 0xFF, 0xFF});
  }
  SECTION("4-bit palette with transparency") {
    RawPng p;
    p.width = 3, p.height = 1, p.bit_depth = 4, p.color_type = PNG_COLOR_TYPE_PALETTE;
    p.palette = {{10, 20, 30}, {200, 100, 50}, {1, 2, 3}};
    p.trns = {0, 128, 255};
    p.rows = {{0x21, 0x00}};  // indices 2, 1, 0 packed high nibble first
    write_raw_png(dir.file("pal.png"), p);
    ImageU8 img = decode_image(dir.file("pal.png"));
    REQUIRE(img.pixels == std::vector<uint8_t>{1, 2, 3, 200, 100, 50, 10, 20, 30});
  }
  SECTION("gray + alpha drops alpha") {
    RawPng p;
    p.width = 2, p.height = 1, p.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
    p.rows = {{77, 0, 5, 255}};
    write_raw_png(dir.file("ga.png"), p);
    REQUIRE(decode_image(dir.file("ga.png")).pixels == std::vector<uint8_t>{77, 77, 77, 5, 5, 5});
  }
  SECTION("Adam7-interlaced RGBA") {
    RawPng p;
    ImageU8 ref = synthetic_image(13, 9);
    p.width = 13, p.height = 9, p.color_type = PNG_COLOR_TYPE_RGB_ALPHA, p.interlaced = true;
    for (int y = 0; y < 9; ++y) {
      std::vector<png_byte> row;
      for (int x = 0; x < 13; ++x) row.insert(row.end(), {ref.at(y, x, 0), ref.at(y, x, 1), ref.at(y, x, 2), 9});
      p.rows.push_back(row);
    }
    write_raw_png(dir.file("i.png"), p);
    REQUIRE(decode_image(dir.file("i.png")).pixels == ref.pixels);
  }
}

TEST_CASE("BMP variants: 32-bit, top-down, 8-bit palette, 16-bit 5-6-5", "[data][decode]") {
  // A 2x2 image: top row red, green; bottom row blue, white.
  const std::vector<uint8_t> expected = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  SECTION("32-bit BGRX, bottom-up") {
    auto bmp = make_bmp(2, 2, 32, 0, {}, {255, 0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 0, 0, 255, 0, 0});
    REQUIRE(decode_image_memory(bmp.data(), bmp.size(), "a.bmp").pixels == expected);
  }
  SECTION("24-bit, top-down (negative height), padded rows") {
    auto bmp = make_bmp(2, -2, 24, 0, {}, {0, 0, 255, 0, 255, 0, 0, 0, 255, 0, 0, 255, 255, 255, 0, 0});
    REQUIRE(decode_image_memory(bmp.data(), bmp.size(), "a.bmp").pixels == expected);
  }
  SECTION("8-bit palette") {
    // Palette entries are BGRX: 0 red, 1 green, 2 blue, 3 white. Rows padded to 4 bytes.
    std::vector<uint8_t> palette = {0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0};
    std::vector<uint8_t> bmp = make_bmp(2, 2, 8, 0, palette, {2, 3, 0, 0, 0, 1, 0, 0});
    // colors_used = 0 means 256 entries, but only 4 are present: say 4 explicitly (offset 46).
    bmp[46] = 4;
    REQUIRE(decode_image_memory(bmp.data(), bmp.size(), "a.bmp").pixels == expected);
  }
  SECTION("16-bit BI_BITFIELDS 5-6-5") {
    BmpBytes masks;
    masks.u32(0xF800), masks.u32(0x07E0), masks.u32(0x001F);
    // Bottom row: blue 0x001F, white 0xFFFF; top row: red 0xF800, green 0x07E0.
    auto bmp = make_bmp(2, 2, 16, 3, masks.b, {0x1F, 0x00, 0xFF, 0xFF, 0x00, 0xF8, 0xE0, 0x07});
    REQUIRE(decode_image_memory(bmp.data(), bmp.size(), "a.bmp").pixels == expected);
  }
}

TEST_CASE("JPEG DCT scaling picks the largest denominator that keeps the short side", "[data][decode]") {
  REQUIRE(jpeg_scale_denominator(4000, 3000, 256) == 8);  // 500 x 375
  REQUIRE(jpeg_scale_denominator(800, 600, 150) == 4);    // 200 x 150; 1/8 would give 75
  REQUIRE(jpeg_scale_denominator(800, 600, 151) == 2);
  REQUIRE(jpeg_scale_denominator(800, 600, 300) == 2);
  REQUIRE(jpeg_scale_denominator(800, 600, 301) == 1);
  REQUIRE(jpeg_scale_denominator(800, 600, 0) == 1);
  REQUIRE(jpeg_scale_denominator(600, 801, 76) == 4);     // ceil(600/8) = 75 < 76
  REQUIRE(jpeg_scale_denominator(601, 800, 76) == 8);     // ceil(601/8) = 76
  REQUIRE(jpeg_scale_denominator(1024, 768, 672) == 1);

  ImageU8 img = synthetic_image(800, 600);
  std::vector<uint8_t> bytes = encode_jpeg(img, 90);
  const std::pair<int, std::pair<int, int>> cases[] = {
      {150, {200, 150}}, {151, {400, 300}}, {0, {800, 600}}, {2000, {800, 600}}, {75, {100, 75}}};
  for (const auto& [min_short, size] : cases) {
    DecodeOptions opts;
    opts.min_short_side = min_short;
    ImageU8 out = decode_image_memory(bytes.data(), bytes.size(), "scaled.jpg", opts);
    INFO("min_short_side " << min_short);
    REQUIRE(out.width == size.first);
    REQUIRE(out.height == size.second);
  }
  // Content is a downscale of the same picture: compare a point in a smooth region (gradients).
  DecodeOptions quarter;
  quarter.min_short_side = 150;
  ImageU8 small = decode_image_memory(bytes.data(), bytes.size(), "scaled.jpg", quarter);
  for (int c = 0; c < 3; ++c)
    REQUIRE(std::abs(int(small.at(130, 180, c)) - int(img.at(130 * 4 + 2, 180 * 4 + 2, c))) <= 4);
}

TEST_CASE("a wrong extension still decodes, and probe_image reports it", "[data][decode]") {
  TempDir dir;
  ImageU8 img = synthetic_image(21, 17);
  write_png(dir.file("really_png.jpg"), img);
  REQUIRE(decode_image(dir.file("really_png.jpg")).pixels == img.pixels);
  ImageInfo info = probe_image(dir.file("really_png.jpg"));
  REQUIRE(info.format == ImageFormat::Png);
  REQUIRE(info.width == 21);
  REQUIRE(info.height == 17);
  REQUIRE_FALSE(info.extension_matches);
  write_jpeg(dir.file("ok.JPEG"), img, 90);
  ImageInfo j = probe_image(dir.file("ok.JPEG"));
  REQUIRE(j.format == ImageFormat::Jpeg);
  REQUIRE(j.width == 21);
  REQUIRE(j.extension_matches);
  write_bmp(dir.file("ok.bmp"), img);
  REQUIRE(probe_image(dir.file("ok.bmp")).height == 17);
  REQUIRE(image_format_from_extension("/a.b/c") == ImageFormat::Unknown);
}

TEST_CASE("bad files throw iqa::Error naming the file", "[data][decode]") {
  TempDir dir;
  ImageU8 img = synthetic_image(64, 48);
  const std::vector<uint8_t> jpg = encode_jpeg(img, 90), png = encode_png(img), bmp = encode_bmp(img);
  auto write = [&](const std::string& name, std::vector<uint8_t> bytes) {
    std::string path = dir.file(name);
    write_file_bytes(path, bytes);
    return path;
  };
  auto half = [](const std::vector<uint8_t>& v) { return std::vector<uint8_t>(v.begin(), v.begin() + v.size() / 2); };

  std::string missing = dir.file("missing.png");
  require_error_naming([&] { decode_image(missing); }, missing, "cannot open");
  std::string empty = write("empty.jpg", {});
  require_error_naming([&] { decode_image(empty); }, empty, "0 bytes");
  std::string text = write("notes.png", {'h', 'e', 'l', 'l', 'o', '\n'});
  require_error_naming([&] { decode_image(text); }, text, "unknown image format");

  for (auto [name, bytes] : {std::pair{"cut.jpg", half(jpg)}, std::pair{"cut.png", half(png)},
                             std::pair{"cut.bmp", half(bmp)}}) {
    std::string path = write(name, bytes);
    require_error_naming([&] { decode_image(path); }, path);
  }
  // Only the first bytes of a header.
  std::string header_only = write("header_only.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + 20));
  require_error_naming([&] { decode_image(header_only); }, header_only);
  require_error_naming([&] { probe_image(header_only); }, header_only);

  // Corrupt: a JPEG whose frame header claims 7-bit samples; a PNG with a damaged IDAT (CRC mismatch).
  std::vector<uint8_t> bad_jpg = jpg;
  size_t sof = 2;
  while (sof + 4 < bad_jpg.size() && !(bad_jpg[sof] == 0xFF && bad_jpg[sof + 1] == 0xC0)) ++sof;
  REQUIRE(sof + 4 < bad_jpg.size());
  bad_jpg[sof + 4] = 7;  // precision byte follows the marker and the 2-byte length
  std::string bj = write("bad.jpg", bad_jpg);
  require_error_naming([&] { decode_image(bj); }, bj, "precision");
  std::vector<uint8_t> bad_png = png;
  bad_png[bad_png.size() / 2] ^= 0xFF;
  std::string bp = write("bad.png", bad_png);
  require_error_naming([&] { decode_image(bp); }, bp);
  std::vector<uint8_t> rle_bmp = bmp;
  rle_bmp[30] = 1;  // compression BI_RLE8
  std::string rb = write("rle.bmp", rle_bmp);
  require_error_naming([&] { decode_image(rb); }, rb, "compression");

  // Headers over the pixel limit, for all three formats, before any pixel is decoded.
  DecodeOptions tiny;
  tiny.max_pixels = 64 * 48 - 1;
  for (auto [name, bytes] : {std::pair{"big.jpg", jpg}, std::pair{"big.png", png}, std::pair{"big.bmp", bmp}}) {
    std::string path = write(name, bytes);
    require_error_naming([&] { decode_image(path, tiny); }, path, "limit");
    require_error_naming([&] { probe_image(path, tiny); }, path, "limit");
    tiny.max_pixels = 64 * 48;
    REQUIRE(decode_image(path, tiny).width == 64);
    tiny.max_pixels = 64 * 48 - 1;
  }
  // A BMP header claiming 100000 x 100000 pixels is refused by the default 100-megapixel limit.
  std::vector<uint8_t> huge = bmp;
  huge[18] = 0xA0, huge[19] = 0x86, huge[20] = 0x01, huge[21] = 0;  // width 100000
  huge[22] = 0xA0, huge[23] = 0x86, huge[24] = 0x01, huge[25] = 0;  // height 100000
  std::string hb = write("huge.bmp", huge);
  require_error_naming([&] { decode_image(hb); }, hb, "limit");
  // Errors from memory name the label given.
  require_error_naming([&] { decode_image_memory(jpg.data(), jpg.size() / 3, "member 7 of shard.tar"); },
                       "member 7 of shard.tar");
}
