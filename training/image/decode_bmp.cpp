// BMP decoding: uncompressed Windows bitmaps (what MATLAB's imwrite and the KADIS-700k tools write).
// Supported: 24-bit BGR, 32-bit BGRX, 16/32-bit BI_BITFIELDS, 1/4/8-bit paletted, bottom-up and
// top-down rows, the 12-byte OS/2 core header and the 40..124-byte Windows headers. RLE is refused.
#include <bit>
#include <cstring>

#include "training/image/decode.h"

namespace iqa {
namespace {

uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }

constexpr uint32_t kBiRgb = 0, kBiBitfields = 3, kBiAlphaBitfields = 6;

struct BmpHeader {
  uint32_t pixel_offset = 0, dib_size = 0, compression = kBiRgb, colors_used = 0;
  int64_t width = 0, height = 0;  // height < 0: rows stored top-down
  int bpp = 0;
  uint32_t masks[3] = {0, 0, 0};   // R, G, B for bitfields
  size_t palette_offset = 0;
  int palette_entry_size = 4;
};

BmpHeader parse_header(const uint8_t* d, size_t n, const std::string& name) {
  IQA_CHECK(n >= 18, name, ": truncated BMP (", n, " bytes, shorter than the file header)");
  BmpHeader h;
  h.pixel_offset = le32(d + 10);
  h.dib_size = le32(d + 14);
  IQA_CHECK(n >= 14 + size_t(h.dib_size), name, ": truncated BMP header");
  const uint8_t* dib = d + 14;
  if (h.dib_size == 12) {  // BITMAPCOREHEADER
    h.width = le16(dib + 4);
    h.height = le16(dib + 6);
    h.bpp = le16(dib + 10);
    h.palette_entry_size = 3;
  } else {
    IQA_CHECK(h.dib_size >= 40, name, ": unsupported BMP header size ", h.dib_size);
    h.width = int32_t(le32(dib + 4));
    h.height = int32_t(le32(dib + 8));
    h.bpp = le16(dib + 14);
    h.compression = le32(dib + 16);
    h.colors_used = le32(dib + 32);
  }
  h.palette_offset = 14 + size_t(h.dib_size);
  if (h.compression == kBiBitfields || h.compression == kBiAlphaBitfields) {
    const uint8_t* m = dib + 40;
    if (h.dib_size < 52) {  // masks follow a 40-byte header instead of being inside it
      size_t extra = h.compression == kBiAlphaBitfields ? 16 : 12;
      IQA_CHECK(n >= 14 + 40 + extra, name, ": truncated BMP bitfield masks");
      h.palette_offset += extra;
    }
    for (int c = 0; c < 3; ++c) h.masks[c] = le32(m + 4 * c);
  } else if (h.bpp == 16) {
    h.masks[0] = 0x7C00, h.masks[1] = 0x03E0, h.masks[2] = 0x001F;  // default 5-5-5
  }
  IQA_CHECK(h.compression == kBiRgb || h.compression == kBiBitfields || h.compression == kBiAlphaBitfields,
            name, ": unsupported BMP compression ", h.compression, " (only uncompressed bitmaps are read)");
  IQA_CHECK(h.bpp == 1 || h.bpp == 4 || h.bpp == 8 || h.bpp == 16 || h.bpp == 24 || h.bpp == 32, name,
            ": unsupported BMP bit depth ", h.bpp);
  IQA_CHECK(h.compression == kBiRgb || h.bpp == 16 || h.bpp == 32, name, ": BMP bitfields need 16 or 32 bits, got ",
            h.bpp);
  IQA_CHECK(h.width > 0 && h.height != 0, name, ": invalid BMP dimensions ", h.width, "x", h.height);
  return h;
}

// Extracts the field selected by `mask` and scales it to 0..255.
struct Field {
  uint32_t mask = 0;
  int shift = 0, bits = 0;
  explicit Field(uint32_t m) : mask(m) {
    if (m) shift = std::countr_zero(m), bits = std::popcount(m);
  }
  uint8_t operator()(uint32_t px) const {
    if (!bits) return 0;
    uint32_t v = (px & mask) >> shift;
    if (bits >= 8) return uint8_t(v >> (bits - 8));
    uint32_t max = (1u << bits) - 1;
    return uint8_t((v * 255 + max / 2) / max);
  }
};

}  // namespace

ImageInfo probe_bmp(const uint8_t* data, size_t size, const std::string& name) {
  BmpHeader h = parse_header(data, size, name);
  ImageInfo info;
  info.format = ImageFormat::Bmp;
  info.width = int(h.width);
  info.height = int(h.height < 0 ? -h.height : h.height);
  return info;
}

ImageU8 decode_bmp(const uint8_t* d, size_t n, const std::string& name, const DecodeOptions& opts) {
  BmpHeader h = parse_header(d, n, name);
  const int64_t width = h.width, height = h.height < 0 ? -h.height : h.height;
  check_pixel_limit(width, height, name, opts);
  const size_t stride = size_t((width * h.bpp + 31) / 32) * 4;
  const size_t last_row_bytes = size_t((width * h.bpp + 7) / 8);  // some writers drop the final padding
  IQA_CHECK(h.pixel_offset <= n && n - h.pixel_offset >= stride * size_t(height - 1) + last_row_bytes, name,
            ": truncated BMP (", n, " bytes; pixel data needs ", h.pixel_offset + stride * size_t(height - 1) + last_row_bytes,
            ")");

  // Palette, as RGB triples; indices past its end read as black.
  uint8_t palette[256][3] = {};
  if (h.bpp <= 8) {
    uint32_t count = h.colors_used ? h.colors_used : (1u << h.bpp);
    if (count > (1u << h.bpp)) count = 1u << h.bpp;
    IQA_CHECK(h.palette_offset + size_t(count) * h.palette_entry_size <= n, name, ": truncated BMP palette");
    for (uint32_t i = 0; i < count; ++i) {
      const uint8_t* e = d + h.palette_offset + size_t(i) * h.palette_entry_size;
      palette[i][0] = e[2], palette[i][1] = e[1], palette[i][2] = e[0];
    }
  }
  const Field red(h.masks[0]), green(h.masks[1]), blue(h.masks[2]);
  const bool bgrx32 = h.bpp == 32 && h.compression == kBiRgb;

  ImageU8 img(int(width), int(height), 3);
  for (int64_t y = 0; y < height; ++y) {
    const int64_t file_row = h.height < 0 ? y : height - 1 - y;
    const uint8_t* src = d + h.pixel_offset + size_t(file_row) * stride;
    uint8_t* dst = img.pixels.data() + size_t(y) * size_t(width) * 3;
    for (int64_t x = 0; x < width; ++x, dst += 3) {
      if (h.bpp == 24 || bgrx32) {
        const uint8_t* p = src + x * (h.bpp / 8);
        dst[0] = p[2], dst[1] = p[1], dst[2] = p[0];
      } else if (h.bpp == 16 || h.bpp == 32) {
        uint32_t px = h.bpp == 16 ? le16(src + 2 * x) : le32(src + 4 * x);
        dst[0] = red(px), dst[1] = green(px), dst[2] = blue(px);
      } else {  // 1, 4 or 8 bits per index, most significant bits first
        const int64_t bit = x * h.bpp;
        const int index = (src[bit / 8] >> (8 - h.bpp - bit % 8)) & ((1 << h.bpp) - 1);
        std::memcpy(dst, palette[index], 3);
      }
    }
  }
  return img;
}

}  // namespace iqa
