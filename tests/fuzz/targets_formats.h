// Fuzz targets for the datasets' official containers and the compression distortions: the .xlsx
// reader (libzip + libexpat), the .mat reader (libmatio) and the JPEG / JPEG 2000 codec round trips.
// A build without libzip/libexpat or libmatio still compiles these (the readers then throw saying
// which package is missing); tools/fuzz.sh fuzzes them only where the libraries were found.
// Included from tests/fuzz/targets.h (helpers and the first targets live there).
#pragma once
#include <cmath>

#include "training/data/mat_reader.h"
#include "training/data/xlsx_reader.h"
#include "training/distort/distort.h"

namespace iqa::fuzz {

inline void require_table_shape(const CsvTable& t) {
  fuzz_require(t.row_lines.size() == t.rows.size(), "one source row number per row");
  for (const auto& row : t.rows) fuzz_require(row.size() == t.header.size(), "sheet rows have header width");
}

// A workbook: its sheet names, the first sheet, and a sheet picked by name (the readers' two paths).
inline int fuzz_xlsx(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("input.xlsx", data, size);
  try {
    const std::vector<std::string> names = xlsx_sheet_names(path);
    require_table_shape(read_xlsx(path));
    if (!names.empty()) require_table_shape(read_xlsx(path, {names.back()}));
  } catch (const Error&) {
  }
  return 0;
}

// A MATLAB file: every variable (at most 8) read both as numbers and as a cell array of text.
inline int fuzz_mat(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("input.mat", data, size);
  try {
    const std::vector<std::string> vars = mat_variables(path);
    for (size_t i = 0; i < vars.size() && i < 8; ++i) {
      try {
        mat_numbers(path, vars[i]);
      } catch (const Error&) {
      }
      try {
        mat_strings(path, vars[i]);
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  return 0;
}

// The compression distortions (KADID #9 JPEG 2000 through OpenJPEG, #10 JPEG through libjpeg), each an
// encode and decode in memory: byte 0 picks the type and level, bytes 1-2 the size (1..48 pixels a
// side, where OpenJPEG's resolution count and libjpeg's chroma subsampling meet odd and tiny sizes),
// the rest are the pixels, repeated to fill the image.
inline int fuzz_compression(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const int type = (data[0] & 1) ? int(Distortion::Jpeg2000) : int(Distortion::Jpeg);
  const int level = 1 + (data[0] >> 1) % kNumDistortionLevels;
  ImageF img(1 + data[1] % 48, 1 + data[2] % 48, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i)
    img.pixels[i] = size > 3 ? float(data[3 + i % (size - 3)]) / 255.0f : 0.5f;
  try {
    const ImageF out = apply_distortion(img, type, level, 7);
    fuzz_require(out.width == img.width && out.height == img.height && out.channels == 3,
                 "a compression distortion keeps the image's size");
    for (float v : out.pixels) fuzz_require(std::isfinite(v) && v >= 0.0f && v <= 1.0f, "pixels stay in [0, 1]");
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace iqa::fuzz

#include "tests/fuzz/targets_xlsx_parts.h"  // the .xlsx reader below its zip layer
