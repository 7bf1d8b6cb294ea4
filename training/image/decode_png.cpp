// PNG decoding through libpng, from memory. Output is always 8-bit RGB: palette and gray are expanded,
// 16-bit samples keep their high byte (what PIL does for 16-bit RGB), alpha is dropped.
//
// libpng reports errors by longjmp to the jmp_buf of the png_struct. As in decode_jpeg.cpp, every
// libpng call sits in a small phase function whose state lives in a PngSession, and the C++ caller,
// which owns all resources, turns a failed phase into an iqa::Error naming the file.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "training/image/decode.h"

namespace iqa {
namespace {

struct PngSession {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  char message[256] = {0};
  png_bytepp rows = nullptr;  // phase 2: one pointer per output row
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngSession*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // ancillary-chunk trouble is not fatal

void read_from_memory(png_structp png, png_bytep dst, png_size_t n) {
  auto* s = static_cast<PngSession*>(png_get_io_ptr(png));
  if (s->size - s->pos < n) png_error(png, "truncated file (unexpected end of data)");
  std::memcpy(dst, s->data + s->pos, n);
  s->pos += n;
}

bool phase_header(PngSession* s) {
  s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_png_error, on_png_warning);
  if (!s->png) {
    std::snprintf(s->message, sizeof(s->message), "cannot create the libpng reader");
    return false;
  }
  s->info = png_create_info_struct(s->png);
  if (!s->info) {
    std::snprintf(s->message, sizeof(s->message), "cannot create the libpng info struct");
    return false;
  }
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_set_read_fn(s->png, s, read_from_memory);
  png_read_info(s->png, s->info);
  return true;
}

bool phase_decode(PngSession* s) {
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_structp png = s->png;
  const int color = png_get_color_type(png, s->info);
  png_set_expand(png);  // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha
  if (png_get_bit_depth(png, s->info) == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, s->info);
  if (png_get_channels(png, s->info) != 3 || png_get_bit_depth(png, s->info) != 8) {
    std::snprintf(s->message, sizeof(s->message), "unexpected layout after conversion (%d channels, %d bits)",
                  int(png_get_channels(png, s->info)), int(png_get_bit_depth(png, s->info)));
    return false;
  }
  png_read_image(png, s->rows);
  png_read_end(png, nullptr);  // reaches IEND: a file cut after the pixel data is still truncated
  return true;
}

struct PngSessionGuard {
  PngSession s;
  ~PngSessionGuard() {
    if (s.png) png_destroy_read_struct(&s.png, s.info ? &s.info : nullptr, nullptr);
  }
};

[[noreturn]] void throw_png_error(const PngSession& s, const std::string& name) {
  fail(cat(name, ": PNG decode failed: ", s.message));
}

}  // namespace

ImageInfo probe_png(const uint8_t* data, size_t size, const std::string& name) {
  PngSessionGuard g;
  g.s.data = data;
  g.s.size = size;
  if (!phase_header(&g.s)) throw_png_error(g.s, name);
  ImageInfo info;
  info.format = ImageFormat::Png;
  info.width = int(png_get_image_width(g.s.png, g.s.info));
  info.height = int(png_get_image_height(g.s.png, g.s.info));
  return info;
}

ImageU8 decode_png(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts) {
  PngSessionGuard g;
  PngSession& s = g.s;
  s.data = data;
  s.size = size;
  if (!phase_header(&s)) throw_png_error(s, name);
  const int64_t width = png_get_image_width(s.png, s.info), height = png_get_image_height(s.png, s.info);
  check_pixel_limit(width, height, name, opts);
  ImageU8 img(int(width), int(height), 3);
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) rows[size_t(y)] = img.pixels.data() + size_t(y) * size_t(width) * 3;
  s.rows = rows.data();
  if (!phase_decode(&s)) throw_png_error(s, name);
  return img;
}

}  // namespace iqa
