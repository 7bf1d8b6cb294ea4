// JPEG encoding through libjpeg(-turbo) into memory. Errors longjmp out of libjpeg; as in
// decode_jpeg.cpp, the libjpeg calls live in one phase function whose state is in a session struct.
#include <csetjmp>
#include <cstdio>  // jpeglib.h uses FILE without including it
#include <cstdlib>

#include <jpeglib.h>

#include "training/image/encode.h"

namespace iqa {
namespace {

struct JpegEncodeSession {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool created = false;
  unsigned char* buffer = nullptr;  // malloc'ed by libjpeg's memory destination
  unsigned long buffer_size = 0;
  const ImageU8* img = nullptr;
  int quality = 95;
};

void on_encode_error(j_common_ptr cinfo) {
  auto* s = reinterpret_cast<JpegEncodeSession*>(cinfo);  // cinfo is the first member
  (*cinfo->err->format_message)(cinfo, s->message);
  std::longjmp(s->jump, 1);
}

void on_encode_message(j_common_ptr, int) {}

bool phase_encode(JpegEncodeSession* s) {
  s->cinfo.err = jpeg_std_error(&s->err);
  s->err.error_exit = on_encode_error;
  s->err.emit_message = on_encode_message;
  if (setjmp(s->jump)) return false;
  jpeg_create_compress(&s->cinfo);
  s->created = true;
  jpeg_mem_dest(&s->cinfo, &s->buffer, &s->buffer_size);
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

struct JpegEncodeGuard {
  JpegEncodeSession s;
  ~JpegEncodeGuard() {
    if (s.created) jpeg_destroy_compress(&s.cinfo);
    std::free(s.buffer);
  }
};

}  // namespace

std::vector<uint8_t> encode_jpeg(const ImageU8& img, int quality) {
  IQA_CHECK(img.channels == 1 || img.channels == 3, "encode_jpeg: need 1 or 3 channels, got ", img.channels);
  IQA_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * img.height * img.channels,
            "encode_jpeg: invalid image ", img.width, "x", img.height, "x", img.channels);
  IQA_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality must be in 1..100, got ", quality);
  JpegEncodeGuard g;
  g.s.img = &img;
  g.s.quality = quality;
  if (!phase_encode(&g.s)) fail(cat("encode_jpeg: libjpeg error: ", g.s.message));
  return std::vector<uint8_t>(g.s.buffer, g.s.buffer + g.s.buffer_size);
}

}  // namespace iqa
