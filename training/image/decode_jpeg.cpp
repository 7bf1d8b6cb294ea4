// JPEG decoding through libjpeg(-turbo), from memory.
//
// libjpeg reports fatal errors through a callback that must not return; the standard answer is
// setjmp/longjmp. A longjmp must not cross C++ frames that own resources, and locals of the frame that
// called setjmp are indeterminate after the jump if they changed in between. So every libjpeg call
// lives in small C-style "phase" functions that keep their state in a JpegSession (memory, not
// registers) and return false after a jump; the C++ caller owns everything and turns false into an
// iqa::Error naming the file.
#include <algorithm>

#include "training/image/jpeg_session.h"

#include <jerror.h>

#include "training/image/decode.h"

namespace iqa {
namespace {

using jpeg_detail::ErrorState;

struct JpegSession {
  jpeg_decompress_struct cinfo;
  ErrorState errors;
  // Phase 2 inputs: where rows go, and a scratch row for gray/CMYK conversion.
  uint8_t* out = nullptr;
  uint8_t* scratch = nullptr;
};

// Warnings (level -1) mostly flag recoverable corruption; libjpeg pads a truncated stream with gray
// and carries on. A truncated file is an error here (as in PIL without LOAD_TRUNCATED_IMAGES); other
// warnings are tolerated silently.
void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0) {
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_detail::on_fatal_error(cinfo);
  }
}

void on_output_message(j_common_ptr) {}

// Creates the decompressor and reads the header. Returns false after a libjpeg error.
bool phase_header(JpegSession* s, const uint8_t* data, size_t size) {
  jpeg_detail::install_error_state(reinterpret_cast<j_common_ptr>(&s->cinfo), s->errors, on_emit_message);
  s->errors.mgr.output_message = on_output_message;
  if (setjmp(s->errors.jump)) return false;
  jpeg_create_decompress(&s->cinfo);
  s->errors.created = true;
  jpeg_mem_src(&s->cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  if (jpeg_read_header(&s->cinfo, TRUE) != JPEG_HEADER_OK) {
    std::snprintf(s->errors.message, sizeof(s->errors.message), "no image in the JPEG stream (tables only)");
    return false;
  }
  return true;
}

// Picks the output color space and scale, and computes the output size.
bool phase_configure(JpegSession* s, int scale_denom) {
  if (setjmp(s->errors.jump)) return false;
  switch (s->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: s->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: s->cinfo.out_color_space = JCS_CMYK; break;  // libjpeg turns YCCK into CMYK
    default: s->cinfo.out_color_space = JCS_RGB; break;
  }
  s->cinfo.scale_num = 1;
  s->cinfo.scale_denom = static_cast<unsigned>(scale_denom);
  jpeg_calc_output_dimensions(&s->cinfo);
  return true;
}

inline uint8_t mul_div255(int a, int b) { return uint8_t((a * b + 127) / 255); }

// One decoded scanline (gray, RGB or CMYK) to RGB.
void row_to_rgb(const JpegSession* s, const uint8_t* src, uint8_t* dst, int width) {
  switch (s->cinfo.out_color_space) {
    case JCS_GRAYSCALE:
      for (int x = 0; x < width; ++x) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x];
      break;
    case JCS_CMYK: {
      // Adobe (Photoshop) writes CMYK inverted: a stored value v means ink 255 - v, so the channel's
      // light is v * k / 255. Without the Adobe marker, values are ink amounts.
      bool inverted = s->cinfo.saw_Adobe_marker;
      for (int x = 0; x < width; ++x) {
        const uint8_t* p = src + 4 * x;
        int c = p[0], m = p[1], y = p[2], k = p[3];
        if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        dst[3 * x] = mul_div255(c, k);
        dst[3 * x + 1] = mul_div255(m, k);
        dst[3 * x + 2] = mul_div255(y, k);
      }
      break;
    }
    default: break;  // RGB rows are decoded in place
  }
}

bool phase_decode(JpegSession* s) {
  if (setjmp(s->errors.jump)) return false;
  jpeg_start_decompress(&s->cinfo);
  const int width = int(s->cinfo.output_width);
  const size_t out_stride = size_t(width) * 3;
  while (s->cinfo.output_scanline < s->cinfo.output_height) {
    uint8_t* dst = s->out + size_t(s->cinfo.output_scanline) * out_stride;
    if (s->cinfo.out_color_space == JCS_RGB) {
      // Many rows per call, straight into the image: libjpeg emits up to an iMCU row's worth at once.
      constexpr int kRowsPerCall = 16;
      JSAMPROW rows[kRowsPerCall];
      const int n = int(std::min<JDIMENSION>(kRowsPerCall, s->cinfo.output_height - s->cinfo.output_scanline));
      for (int i = 0; i < n; ++i) rows[i] = dst + size_t(i) * out_stride;
      jpeg_read_scanlines(&s->cinfo, rows, JDIMENSION(n));
    } else {
      JSAMPROW row = s->scratch;
      jpeg_read_scanlines(&s->cinfo, &row, 1);
      row_to_rgb(s, s->scratch, dst, width);
    }
  }
  jpeg_finish_decompress(&s->cinfo);
  return true;
}

using JpegSessionGuard = jpeg_detail::SessionGuard<JpegSession>;

[[noreturn]] void throw_jpeg_error(const JpegSession& s, const std::string& name) {
  fail(cat(name, ": JPEG decode failed: ", s.errors.message));
}

}  // namespace

int jpeg_scale_denominator(int width, int height, int min_short_side) {
  if (min_short_side <= 0) return 1;
  const int short_side = width < height ? width : height;
  for (int denom = 8; denom > 1; denom /= 2)
    if ((short_side + denom - 1) / denom >= min_short_side) return denom;  // libjpeg rounds up
  return 1;
}

ImageInfo probe_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  JpegSessionGuard g;
  if (!phase_header(&g.s, data, size)) throw_jpeg_error(g.s, name);
  ImageInfo info;
  info.format = ImageFormat::Jpeg;
  info.width = int(g.s.cinfo.image_width);
  info.height = int(g.s.cinfo.image_height);
  return info;
}

ImageU8 decode_jpeg(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opts) {
  JpegSessionGuard g;
  JpegSession& s = g.s;
  if (!phase_header(&s, data, size)) throw_jpeg_error(s, name);
  check_pixel_limit(s.cinfo.image_width, s.cinfo.image_height, name, opts);
  int denom = jpeg_scale_denominator(int(s.cinfo.image_width), int(s.cinfo.image_height), opts.min_short_side);
  if (!phase_configure(&s, denom)) throw_jpeg_error(s, name);
  ImageU8 img(int(s.cinfo.output_width), int(s.cinfo.output_height), 3);
  std::vector<uint8_t> scratch(size_t(img.width) * 4);
  s.out = img.pixels.data();
  s.scratch = scratch.data();
  if (!phase_decode(&s)) throw_jpeg_error(s, name);
  return img;
}

}  // namespace iqa
