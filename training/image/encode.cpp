// The 24-bit BMP writer and the file-writing wrappers around the encoders.
#include "training/image/encode.h"

#include <string_view>

#include "engine/atomic_file.h"

namespace iqa {
namespace {

void put16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, v & 0xFFFF), put16(b, v >> 16);
}

}  // namespace

std::vector<uint8_t> encode_bmp(const ImageU8& img) {
  IQA_CHECK(img.channels == 1 || img.channels == 3, "encode_bmp: need 1 or 3 channels, got ", img.channels);
  IQA_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * img.height * img.channels,
            "encode_bmp: invalid image ", img.width, "x", img.height, "x", img.channels);
  const size_t stride = (size_t(img.width) * 3 + 3) / 4 * 4;  // rows padded to 4 bytes
  const size_t pixel_bytes = stride * size_t(img.height);
  IQA_CHECK(54 + pixel_bytes <= 0xFFFFFFFFull, "encode_bmp: image too large for BMP (", img.width, "x", img.height, ")");
  std::vector<uint8_t> b;
  b.reserve(54 + pixel_bytes);
  b.push_back('B'), b.push_back('M');
  put32(b, uint32_t(54 + pixel_bytes));
  put32(b, 0);   // reserved
  put32(b, 54);  // pixel data offset: 14-byte file header + 40-byte BITMAPINFOHEADER
  put32(b, 40);
  put32(b, uint32_t(img.width));
  put32(b, uint32_t(img.height));  // positive: bottom-up rows
  put16(b, 1);                     // planes
  put16(b, 24);                    // bits per pixel
  put32(b, 0);                     // BI_RGB
  put32(b, uint32_t(pixel_bytes));
  put32(b, 2835), put32(b, 2835);  // 72 dpi in pixels per metre
  put32(b, 0), put32(b, 0);        // no palette
  for (int y = img.height - 1; y >= 0; --y) {
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = img.pixels.data() + (size_t(y) * img.width + x) * img.channels;
      const int green = img.channels == 3 ? 1 : 0, blue = img.channels == 3 ? 2 : 0;  // gray: all from 0
      b.push_back(p[blue]), b.push_back(p[green]), b.push_back(p[0]);
    }
    b.resize(b.size() + stride - size_t(img.width) * 3, 0);
  }
  return b;
}

void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                        "image writer", Survives::kill);
}

void write_png(const std::string& path, const ImageU8& img) { write_file_bytes(path, encode_png(img)); }
void write_jpeg(const std::string& path, const ImageU8& img, int quality) {
  write_file_bytes(path, encode_jpeg(img, quality));
}
void write_bmp(const std::string& path, const ImageU8& img) { write_file_bytes(path, encode_bmp(img)); }

}  // namespace iqa
