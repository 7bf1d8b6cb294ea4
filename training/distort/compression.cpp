// Compression family: JPEG2000 (#9) through OpenJPEG and JPEG (#10) through libjpeg (the project's
// encoder and decoder), both encoded and decoded in memory. Like MATLAB's imwrite, the image is
// first rounded to 8 bits.
#include <openjpeg.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "training/image/decode.h"
#include "training/distort/families.h"
#include "training/image/encode.h"

namespace iqa::distort {

// ---- JPEG2000 ----------------------------------------------------------------------------------
namespace {

// Growable in-memory byte stream behind OpenJPEG's stream callbacks.
struct MemoryStream {
  std::vector<uint8_t> bytes;
  size_t pos = 0;
};

OPJ_SIZE_T mem_write(void* buf, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->pos + n > s->bytes.size()) s->bytes.resize(s->pos + n);
  std::memcpy(s->bytes.data() + s->pos, buf, n);
  s->pos += n;
  return n;
}
OPJ_SIZE_T mem_read(void* buf, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->pos >= s->bytes.size()) return OPJ_SIZE_T(-1);  // end of stream
  const size_t k = std::min(n, s->bytes.size() - s->pos);
  std::memcpy(buf, s->bytes.data() + s->pos, k);
  s->pos += k;
  return k;
}
OPJ_OFF_T mem_skip(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0 && size_t(-n) > s->pos) return -1;
  s->pos = size_t(OPJ_OFF_T(s->pos) + n);
  return n;
}
OPJ_BOOL mem_seek(OPJ_OFF_T to, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (to < 0) return OPJ_FALSE;
  s->pos = size_t(to);
  return OPJ_TRUE;
}

opj_stream_t* make_stream(MemoryStream& mem, bool input) {
  opj_stream_t* st = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, input ? OPJ_TRUE : OPJ_FALSE);
  IQA_CHECK(st != nullptr, "jpeg2000: cannot create an OpenJPEG stream");
  opj_stream_set_user_data(st, &mem, nullptr);
  if (input) {
    opj_stream_set_user_data_length(st, mem.bytes.size());
    opj_stream_set_read_function(st, mem_read);
  } else {
    opj_stream_set_write_function(st, mem_write);
  }
  opj_stream_set_skip_function(st, mem_skip);
  opj_stream_set_seek_function(st, mem_seek);
  return st;
}

void quiet(const char*, void*) {}

// Owns the OpenJPEG objects of one encode or decode so every early exit releases them.
struct OpjSession {
  opj_codec_t* codec = nullptr;
  opj_stream_t* stream = nullptr;
  opj_image_t* image = nullptr;
  ~OpjSession() {
    if (stream) opj_stream_destroy(stream);
    if (codec) opj_destroy_codec(codec);
    if (image) opj_image_destroy(image);
  }
};

std::vector<uint8_t> encode_j2k(const ImageU8& img, double ratio) {
  const int W = img.width, H = img.height;
  opj_cparameters_t params;
  opj_set_default_encoder_parameters(&params);
  params.tcp_numlayers = 1;
  params.tcp_rates[0] = float(ratio);  // compression ratio against the raw 8-bit size, as MATLAB's
  params.cp_disto_alloc = 1;
  params.irreversible = 1;  // lossy 9/7 wavelet with the irreversible colour transform
  params.tcp_mct = 1;
  // OpenJPEG's default of 6 resolution levels needs >= 32 pixels per side; fewer for tiny images.
  int max_res = 1;
  while (max_res < 6 && (std::min(W, H) >> max_res) > 0) ++max_res;
  params.numresolution = max_res;

  opj_image_cmptparm_t comp[3];
  std::memset(comp, 0, sizeof(comp));
  for (auto& c : comp) {
    c.dx = c.dy = 1;
    c.w = OPJ_UINT32(W);
    c.h = OPJ_UINT32(H);
    c.prec = 8;
    c.sgnd = 0;
  }
  OpjSession s;
  s.image = opj_image_create(3, comp, OPJ_CLRSPC_SRGB);
  IQA_CHECK(s.image != nullptr, "jpeg2000: cannot allocate a ", W, "x", H, " image");
  s.image->x0 = s.image->y0 = 0;
  s.image->x1 = OPJ_UINT32(W);
  s.image->y1 = OPJ_UINT32(H);
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < size_t(W) * H; ++i) s.image->comps[c].data[i] = img.pixels[3 * i + c];

  s.codec = opj_create_compress(OPJ_CODEC_J2K);
  opj_set_error_handler(s.codec, quiet, nullptr);
  opj_set_warning_handler(s.codec, quiet, nullptr);
  opj_set_info_handler(s.codec, quiet, nullptr);
  IQA_CHECK(opj_setup_encoder(s.codec, &params, s.image), "jpeg2000: encoder setup failed for ", W, "x", H,
            " at ratio ", ratio);
  MemoryStream mem;
  s.stream = make_stream(mem, false);
  const bool ok = opj_start_compress(s.codec, s.image, s.stream) && opj_encode(s.codec, s.stream) &&
                  opj_end_compress(s.codec, s.stream);
  IQA_CHECK(ok, "jpeg2000: encoding a ", W, "x", H, " image at ratio ", ratio, " failed");
  return std::move(mem.bytes);
}

ImageU8 decode_j2k(std::vector<uint8_t> bytes, int W, int H) {
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  OpjSession s;
  s.codec = opj_create_decompress(OPJ_CODEC_J2K);
  opj_set_error_handler(s.codec, quiet, nullptr);
  opj_set_warning_handler(s.codec, quiet, nullptr);
  opj_set_info_handler(s.codec, quiet, nullptr);
  IQA_CHECK(opj_setup_decoder(s.codec, &params), "jpeg2000: decoder setup failed");
  MemoryStream mem{std::move(bytes), 0};
  s.stream = make_stream(mem, true);
  const bool ok = opj_read_header(s.stream, s.codec, &s.image) && opj_decode(s.codec, s.stream, s.image) &&
                  opj_end_decompress(s.codec, s.stream);
  IQA_CHECK(ok, "jpeg2000: decoding our own ", mem.bytes.size(), "-byte codestream failed");
  IQA_CHECK(s.image->numcomps == 3, "jpeg2000: decoded ", s.image->numcomps, " components, expected 3");
  ImageU8 out(W, H, 3);
  for (int c = 0; c < 3; ++c) {
    const opj_image_comp_t& comp = s.image->comps[c];
    IQA_CHECK(int(comp.w) == W && int(comp.h) == H, "jpeg2000: decoded component ", c, " is ", comp.w, "x",
              comp.h, ", expected ", W, "x", H);
    for (size_t i = 0; i < size_t(W) * H; ++i) out.pixels[3 * i + c] = uint8_t(std::clamp(comp.data[i], 0, 255));
  }
  return out;
}

}  // namespace

ImageF jpeg2000_compression(const ImageF& img, double ratio, Rng&) {
  return to_float(decode_j2k(encode_j2k(to_u8(img), ratio), img.width, img.height));
}

// ---- JPEG --------------------------------------------------------------------------------------

ImageF jpeg_compression(const ImageF& img, double quality, Rng&) {
  // IJG quality scaling with 4:2:0 chroma (training/image/encode.h), decoded back at full size.
  const std::vector<uint8_t> bytes = encode_jpeg(to_u8(img), int(std::lround(quality)));
  ImageU8 decoded = decode_image_memory(bytes.data(), bytes.size(), "<jpeg distortion>", DecodeOptions{});
  IQA_CHECK(decoded.width == img.width && decoded.height == img.height && decoded.channels == 3,
            "jpeg distortion: decoded ", decoded.width, "x", decoded.height, "x", decoded.channels, ", expected ",
            img.width, "x", img.height, "x3");
  return to_float(decoded);
}

}  // namespace iqa::distort
