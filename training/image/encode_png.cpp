// PNG encoding through libpng into memory (8-bit gray or RGB, default compression).
#include <png.h>

#include <csetjmp>
#include <cstdio>

#include "training/image/encode.h"

namespace iqa {
namespace {

struct PngEncodeSession {
  png_structp png = nullptr;
  png_infop info = nullptr;
  char message[256] = {0};
  std::vector<uint8_t>* out = nullptr;
  const ImageU8* img = nullptr;
  png_bytepp rows = nullptr;
};

void on_encode_error(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngEncodeSession*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg);
  png_longjmp(png, 1);
}

void on_encode_warning(png_structp, png_const_charp) {}

// Appends to a std::vector. Runs inside libpng, so a failed allocation must become png_error, not an
// exception unwinding through C frames.
void write_to_vector(png_structp png, png_bytep data, png_size_t n) {
  auto* s = static_cast<PngEncodeSession*>(png_get_io_ptr(png));
  try {
    s->out->insert(s->out->end(), data, data + n);
  } catch (...) {
    png_error(png, "out of memory while encoding");
  }
}

void flush_nothing(png_structp) {}

bool phase_encode(PngEncodeSession* s) {
  s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, on_encode_error, on_encode_warning);
  if (!s->png) return false;
  s->info = png_create_info_struct(s->png);
  if (!s->info) return false;
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_set_write_fn(s->png, s, write_to_vector, flush_nothing);
  const ImageU8& img = *s->img;
  png_set_IHDR(s->png, s->info, png_uint_32(img.width), png_uint_32(img.height), 8,
               img.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(s->png, s->info);
  png_write_image(s->png, s->rows);
  png_write_end(s->png, nullptr);
  return true;
}

struct PngEncodeGuard {
  PngEncodeSession s;
  ~PngEncodeGuard() {
    if (s.png) png_destroy_write_struct(&s.png, s.info ? &s.info : nullptr);
  }
};

}  // namespace

std::vector<uint8_t> encode_png(const ImageU8& img) {
  IQA_CHECK(img.channels == 1 || img.channels == 3, "encode_png: need 1 or 3 channels, got ", img.channels);
  IQA_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * img.height * img.channels,
            "encode_png: invalid image ", img.width, "x", img.height, "x", img.channels);
  std::vector<uint8_t> out;
  std::vector<png_bytep> rows(static_cast<size_t>(img.height));
  for (int y = 0; y < img.height; ++y)
    rows[size_t(y)] = const_cast<uint8_t*>(img.pixels.data()) + size_t(y) * img.width * img.channels;
  PngEncodeGuard g;
  g.s.out = &out;
  g.s.img = &img;
  g.s.rows = rows.data();
  if (!phase_encode(&g.s)) fail(cat("encode_png: libpng error: ", g.s.message));
  return out;
}

}  // namespace iqa
