// TIFF decoding through libtiff, from memory (PIQ23 ships .tif/.tiff photos). Output is 8-bit RGB:
// TIFFReadRGBAImageOriented handles 8- and 16-bit samples (16-bit rounded, (v * 255 + 32767) / 65535),
// gray, palette, and every compression libtiff was built with (none, LZW, Deflate, PackBits, JPEG).
// Only the first directory (page) is read. libtiff reports errors through a per-handle handler that
// records the first message; each failing call then becomes an iqa::Error naming the file.
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "training/image/decode.h"

namespace iqa {
namespace {

struct TiffMemory {
  const uint8_t* data = nullptr;
  size_t size = 0;
  toff_t pos = 0;
  char message[256] = {0};
};

tsize_t read_mem(thandle_t h, tdata_t dst, tsize_t n) {
  auto* m = static_cast<TiffMemory*>(h);
  if (m->pos >= m->size) return 0;
  const size_t take = std::min<size_t>(size_t(n), m->size - size_t(m->pos));
  std::memcpy(dst, m->data + m->pos, take);
  m->pos += take;
  return tsize_t(take);
}
tsize_t write_mem(thandle_t, tdata_t, tsize_t) { return 0; }
toff_t seek_mem(thandle_t h, toff_t off, int whence) {
  auto* m = static_cast<TiffMemory*>(h);
  const toff_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? toff_t(m->size) : 0;
  m->pos = base + off;
  return m->pos;
}
int close_mem(thandle_t) { return 0; }
toff_t size_mem(thandle_t h) { return toff_t(static_cast<TiffMemory*>(h)->size); }
int map_mem(thandle_t, tdata_t*, toff_t*) { return 0; }
void unmap_mem(thandle_t, tdata_t, toff_t) {}

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* m = static_cast<TiffMemory*>(user);
  if (m->message[0] == 0) {
    char text[200];
    std::vsnprintf(text, sizeof(text), fmt, ap);
    std::snprintf(m->message, sizeof(m->message), "%s%s%s", module ? module : "", module ? ": " : "", text);
  }
  return 1;  // handled: libtiff's global handler (stderr) stays quiet
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }  // unknown tags etc.

using TiffPtr = std::unique_ptr<TIFF, void (*)(TIFF*)>;

TiffPtr open_tiff(TiffMemory& m, const std::string& name) {
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> o(TIFFOpenOptionsAlloc(), &TIFFOpenOptionsFree);
  IQA_CHECK(o, name, ": cannot create the libtiff options");
  TIFFOpenOptionsSetErrorHandlerExtR(o.get(), on_error, &m);
  TIFFOpenOptionsSetWarningHandlerExtR(o.get(), on_warning, &m);
  TiffPtr t(TIFFClientOpenExt(name.c_str(), "rm", &m, read_mem, write_mem, seek_mem, close_mem, size_mem, map_mem,
                              unmap_mem, o.get()),
            &TIFFClose);
  IQA_CHECK(t, name, ": not a readable TIFF (", m.message[0] ? m.message : "libtiff could not open it", ")");
  return t;
}

ImageInfo header(TIFF* t, TiffMemory& m, const std::string& name) {
  uint32_t w = 0, h = 0;
  IQA_CHECK(TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) == 1 && TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) == 1, name,
            ": TIFF without image dimensions", m.message[0] ? cat(" (", m.message, ")") : "");
  IQA_CHECK(w <= 0x7fffffffu && h <= 0x7fffffffu, name, ": TIFF dimensions ", w, "x", h, " out of range");
  ImageInfo info;
  info.format = ImageFormat::Tiff;
  info.width = int(w);
  info.height = int(h);
  return info;
}

}  // namespace

ImageInfo probe_tiff(const uint8_t* data, size_t size, const std::string& name) {
  TiffMemory m{data, size};
  TiffPtr t = open_tiff(m, name);
  return header(t.get(), m, name);
}

ImageU8 decode_tiff(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts) {
  TiffMemory m{data, size};
  TiffPtr t = open_tiff(m, name);
  const ImageInfo info = header(t.get(), m, name);
  check_pixel_limit(info.width, info.height, name, opts);
  char why[1024] = {0};
  IQA_CHECK(TIFFRGBAImageOK(t.get(), why) == 1, name, ": unsupported TIFF layout (", why, ")");
  std::vector<uint32_t> rgba(size_t(info.width) * size_t(info.height));
  const int ok = TIFFReadRGBAImageOriented(t.get(), uint32_t(info.width), uint32_t(info.height), rgba.data(),
                                           ORIENTATION_TOPLEFT, 1);
  IQA_CHECK(ok == 1 && m.message[0] == 0, name, ": corrupt or truncated TIFF (",
            m.message[0] ? m.message : "libtiff could not read the pixels", ")");
  ImageU8 img(info.width, info.height, 3);
  for (size_t i = 0; i < rgba.size(); ++i) {
    img.pixels[3 * i + 0] = uint8_t(TIFFGetR(rgba[i]));
    img.pixels[3 * i + 1] = uint8_t(TIFFGetG(rgba[i]));
    img.pixels[3 * i + 2] = uint8_t(TIFFGetB(rgba[i]));
  }
  return img;
}

}  // namespace iqa
