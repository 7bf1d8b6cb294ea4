// Format detection and dispatch for the decoders in decode_{jpeg,png,bmp,tiff}.cpp.
#include "training/image/decode.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>

namespace iqa {

const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Tiff: return "TIFF";
    default: return "unknown";
  }
}

ImageFormat detect_image_format(const uint8_t* data, size_t size) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::Jpeg;
  if (size >= 8 && std::memcmp(data, png_sig, 8) == 0) return ImageFormat::Png;
  if (size >= 2 && data[0] == 'B' && data[1] == 'M') return ImageFormat::Bmp;
  // Little-endian "II" or big-endian "MM", then 42 (classic TIFF) or 43 (BigTIFF) in that byte order.
  if (size >= 4 && ((data[0] == 'I' && data[1] == 'I' && (data[2] == 42 || data[2] == 43) && data[3] == 0) ||
                    (data[0] == 'M' && data[1] == 'M' && data[2] == 0 && (data[3] == 42 || data[3] == 43))))
    return ImageFormat::Tiff;
  return ImageFormat::Unknown;
}

ImageFormat image_format_from_extension(const std::string& path) {
  size_t dot = path.find_last_of('.');
  size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return ImageFormat::Unknown;
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (ext == "jpg" || ext == "jpeg" || ext == "jfif" || ext == "jpe") return ImageFormat::Jpeg;
  if (ext == "png") return ImageFormat::Png;
  if (ext == "bmp" || ext == "dib") return ImageFormat::Bmp;
  if (ext == "tif" || ext == "tiff") return ImageFormat::Tiff;
  return ImageFormat::Unknown;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  IQA_CHECK(f, path, ": cannot open file for reading");
  IQA_CHECK(std::fseek(f.get(), 0, SEEK_END) == 0, path, ": cannot seek");
  long n = std::ftell(f.get());
  IQA_CHECK(n >= 0, path, ": cannot determine the file size");
  std::rewind(f.get());
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  IQA_CHECK(n == 0 || std::fread(bytes.data(), 1, bytes.size(), f.get()) == bytes.size(), path,
            ": read error");
  return bytes;
}

void check_pixel_limit(int64_t width, int64_t height, const std::string& name, const DecodeOptions& opts) {
  IQA_CHECK(width > 0 && height > 0, name, ": invalid image dimensions ", width, "x", height);
  IQA_CHECK(width * height <= opts.max_pixels, name, ": header claims ", width, "x", height, " = ",
            width * height, " pixels, over the limit of ", opts.max_pixels);
}

static ImageFormat format_or_throw(const uint8_t* data, size_t size, const std::string& name) {
  IQA_CHECK(size > 0, name, ": empty file (0 bytes)");
  ImageFormat f = detect_image_format(data, size);
  IQA_CHECK(f != ImageFormat::Unknown, name, ": unknown image format (not JPEG, PNG, BMP or TIFF by its first bytes)");
  return f;
}

ImageU8 decode_image_memory(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts) {
  switch (format_or_throw(data, size, name)) {
    case ImageFormat::Jpeg: return decode_jpeg(data, size, name, opts);
    case ImageFormat::Png: return decode_png(data, size, name, opts);
    case ImageFormat::Tiff: return decode_tiff(data, size, name, opts);
    default: return decode_bmp(data, size, name, opts);
  }
}

ImageU8 decode_image(const std::string& path, const DecodeOptions& opts) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image_memory(bytes.data(), bytes.size(), path, opts);
}

ImageInfo probe_image(const std::string& path, const DecodeOptions& opts) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  ImageInfo info;
  switch (format_or_throw(bytes.data(), bytes.size(), path)) {
    case ImageFormat::Jpeg: info = probe_jpeg(bytes.data(), bytes.size(), path); break;
    case ImageFormat::Png: info = probe_png(bytes.data(), bytes.size(), path); break;
    case ImageFormat::Tiff: info = probe_tiff(bytes.data(), bytes.size(), path); break;
    default: info = probe_bmp(bytes.data(), bytes.size(), path); break;
  }
  check_pixel_limit(info.width, info.height, path, opts);
  ImageFormat by_ext = image_format_from_extension(path);
  info.extension_matches = by_ext == ImageFormat::Unknown || by_ext == info.format;
  return info;
}

}  // namespace iqa
