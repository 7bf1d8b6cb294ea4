// JPEG encoding through libjpeg(-turbo) into memory. Errors longjmp out of libjpeg; as in
// decode_jpeg.cpp, the libjpeg calls live in one phase function whose state is in a session struct.
#include <cstdlib>

#include "training/image/encode.h"
#include "training/image/jpeg_session.h"

namespace iqa {
namespace {

// The output of libjpeg's memory destination, malloc'ed (and grown) by libjpeg, freed here.
struct MallocBuffer {
  unsigned char* data = nullptr;
  unsigned long size = 0;
  MallocBuffer() = default;
  MallocBuffer(const MallocBuffer&) = delete;
  MallocBuffer& operator=(const MallocBuffer&) = delete;
  ~MallocBuffer() { std::free(data); }
};

struct JpegEncodeSession {
  jpeg_compress_struct cinfo;
  jpeg_detail::ErrorState errors;
  MallocBuffer buffer;  // a member, so freed after the guard has destroyed the compressor
  const ImageU8* img = nullptr;
  int quality = 95;
};

void on_encode_message(j_common_ptr, int) {}

bool phase_encode(JpegEncodeSession* s) {
  jpeg_detail::install_error_state(reinterpret_cast<j_common_ptr>(&s->cinfo), s->errors, on_encode_message);
  if (setjmp(s->errors.jump)) return false;
  jpeg_create_compress(&s->cinfo);
  s->errors.created = true;
  jpeg_mem_dest(&s->cinfo, &s->buffer.data, &s->buffer.size);
  const ImageU8& img = *s->img;
  s->cinfo.image_width = JDIMENSION(img.width);
  s->cinfo.image_height = JDIMENSION(img.height);
  s->cinfo.input_components = img.channels;
  s->cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&s->cinfo);
  jpeg_set_quality(&s->cinfo, s->quality, TRUE);
  jpeg_start_compress(&s->cinfo, TRUE);
  const size_t stride = size_t(img.width) * img.channels;
  while (s->cinfo.next_scanline < s->cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(img.pixels.data()) + size_t(s->cinfo.next_scanline) * stride;
    jpeg_write_scanlines(&s->cinfo, &row, 1);
  }
  jpeg_finish_compress(&s->cinfo);
  return true;
}

using JpegEncodeGuard = jpeg_detail::SessionGuard<JpegEncodeSession>;

}  // namespace

std::vector<uint8_t> encode_jpeg(const ImageU8& img, int quality) {
  IQA_CHECK(img.channels == 1 || img.channels == 3, "encode_jpeg: need 1 or 3 channels, got ", img.channels);
  IQA_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * img.height * img.channels,
            "encode_jpeg: invalid image ", img.width, "x", img.height, "x", img.channels);
  IQA_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality must be in 1..100, got ", quality);
  JpegEncodeGuard g;
  g.s.img = &img;
  g.s.quality = quality;
  if (!phase_encode(&g.s)) fail(cat("encode_jpeg: libjpeg error: ", g.s.errors.message));
  return std::vector<uint8_t>(g.s.buffer.data, g.s.buffer.data + g.s.buffer.size);
}

}  // namespace iqa
