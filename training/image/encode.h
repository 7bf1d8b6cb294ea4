// Image encoding: PNG (libpng), JPEG (libjpeg-turbo), BMP (24-bit, own writer). Used by the tests,
// by iqa-distort to write KADIS-style sets, and by the JPEG distortion (encode + decode in memory).
// Inputs are ImageU8 with 1 (gray) or 3 (RGB) channels; errors throw iqa::Error naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "training/image/image.h"

namespace iqa {

std::vector<uint8_t> encode_png(const ImageU8& img);
// quality 1..100 (libjpeg's scale); 4:2:0 chroma subsampling for RGB, libjpeg's defaults otherwise.
std::vector<uint8_t> encode_jpeg(const ImageU8& img, int quality);
std::vector<uint8_t> encode_bmp(const ImageU8& img);  // 24-bit BGR, bottom-up; gray is written as RGB

// Whole or not at all against a killed process (engine/atomic_file.h, Survives::kill): a run killed
// while it writes images leaves each one old or new, never cut, and no fsync per image.
void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
void write_png(const std::string& path, const ImageU8& img);
void write_jpeg(const std::string& path, const ImageU8& img, int quality);
void write_bmp(const std::string& path, const ImageU8& img);

}  // namespace iqa
