// Image decoding: JPEG (libjpeg-turbo), PNG (libpng), TIFF (libtiff), BMP (own parser). Every decoder
// outputs 8-bit RGB
// (ImageU8, 3 channels, HWC), whatever the file stores: grayscale, palette, CMYK, 16-bit, alpha.
//
// The format is taken from the file's magic bytes, never from its extension, so a PNG named .jpg
// still decodes; probe_image() reports the mismatch for callers that want to log it.
// Every failure (missing, empty, truncated, corrupt, unknown format, too many pixels) throws
// iqa::Error with a message that starts with the file's name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "training/image/image.h"

namespace iqa {

enum class ImageFormat { Unknown, Jpeg, Png, Bmp, Tiff };

const char* image_format_name(ImageFormat f);
// From the first bytes of the file (needs at most 8).
ImageFormat detect_image_format(const uint8_t* data, size_t size);
// From the path's extension (case-insensitive): .jpg/.jpeg/.jfif, .png, .bmp, .tif/.tiff; Unknown otherwise.
ImageFormat image_format_from_extension(const std::string& path);

struct DecodeOptions {
  // JPEG only: decode at 1/2, 1/4 or 1/8 scale in the DCT domain when the short side of the result is
  // still >= min_short_side. 0 decodes at full size. Other formats always decode at full size.
  int min_short_side = 0;
  // Refuse images whose header claims more than this many pixels, before allocating anything.
  int64_t max_pixels = 100'000'000;
};

// What the header says, without decoding pixels.
struct ImageInfo {
  ImageFormat format = ImageFormat::Unknown;
  int width = 0, height = 0;         // full-size dimensions from the header
  bool extension_matches = true;     // false when e.g. a PNG is named .jpg
};

// Whole file into memory; throws iqa::Error naming the path when it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

ImageU8 decode_image(const std::string& path, const DecodeOptions& opts = {});
// `name` only labels error messages (a path, an archive member, "<memory>").
ImageU8 decode_image_memory(const uint8_t* data, size_t size, const std::string& name,
                            const DecodeOptions& opts = {});
// Reads the header only; checks the pixel limit. For validating dataset listings before training.
ImageInfo probe_image(const std::string& path, const DecodeOptions& opts = {});

// The per-format decoders behind decode_image_memory (data must already be of that format).
ImageU8 decode_jpeg(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts);
ImageU8 decode_png(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts);
ImageU8 decode_bmp(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts);
ImageU8 decode_tiff(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts);
// Header readers: fill width/height (and format), throw on a malformed header.
ImageInfo probe_jpeg(const uint8_t* data, size_t size, const std::string& name);
ImageInfo probe_png(const uint8_t* data, size_t size, const std::string& name);
ImageInfo probe_bmp(const uint8_t* data, size_t size, const std::string& name);
ImageInfo probe_tiff(const uint8_t* data, size_t size, const std::string& name);

// The DCT scale denominator (1, 2, 4 or 8) decode_jpeg picks for a width x height JPEG: the largest
// whose output short side, ceil(side / denom) as libjpeg computes it, is still >= min_short_side.
int jpeg_scale_denominator(int width, int height, int min_short_side);

// Throws iqa::Error naming `name` when width x height exceeds opts.max_pixels or is not positive.
void check_pixel_limit(int64_t width, int64_t height, const std::string& name, const DecodeOptions& opts);

}  // namespace iqa
