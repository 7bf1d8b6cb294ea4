// libFuzzer target: the JPEG, PNG and BMP decoders and header probes on arbitrary bytes. Any input
// must either decode or throw iqa::Error; crashes, leaks and sanitizer reports are bugs.
// Built and run by tools/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>

#include "training/image/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  iqa::DecodeOptions opts;
  opts.max_pixels = 4'000'000;  // keeps each run small; the limit check itself is under test too
  // The last byte picks a DCT downscale target, exercising every libjpeg scale path.
  if (size > 0) opts.min_short_side = (data[size - 1] % 5) * 16;
  try {
    iqa::ImageU8 img = iqa::decode_image_memory(data, size, "<fuzz>", opts);
    // The decoder's contract: 8-bit RGB, tightly packed.
    if (img.channels != 3 || img.pixels.size() != size_t(img.width) * size_t(img.height) * 3) __builtin_trap();
  } catch (const iqa::Error&) {
  }
  try {
    switch (iqa::detect_image_format(data, size)) {
      case iqa::ImageFormat::Jpeg: iqa::probe_jpeg(data, size, "<fuzz>"); break;
      case iqa::ImageFormat::Png: iqa::probe_png(data, size, "<fuzz>"); break;
      case iqa::ImageFormat::Bmp: iqa::probe_bmp(data, size, "<fuzz>"); break;
      default: break;
    }
  } catch (const iqa::Error&) {
  }
  return 0;
}
