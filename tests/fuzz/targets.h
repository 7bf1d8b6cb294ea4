// The fuzz targets' bodies as plain functions, so the libFuzzer main (tests/fuzz/fuzz_main.cpp, built by
// tools/fuzz.sh with clang) and the ordinary test suite's replay of seeds and regression inputs
// (tests/test_fuzz_regressions.cpp, any compiler) run the same code. Contract of every target: any
// input either parses or throws iqa::Error; anything else (a crash, a sanitizer report, another
// exception, a broken invariant, which aborts via fuzz_require) is a bug.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "kernels/error.h"
#include "training/checkpoint.h"
#include "training/data/csv.h"
#include "training/data/dataset.h"
#include "training/data/splits.h"
#include "training/distort/set.h"
#include "training/dsmix/data.h"
#include "training/image/decode.h"

namespace iqa::fuzz {

// A broken invariant: abort loudly, so libFuzzer records the input and the replay test dies naming it.
inline void fuzz_require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

// A per-process scratch folder for targets whose readers take paths.
inline std::filesystem::path scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("iqa_fuzz_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, const void* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  FILE* f = std::fopen(path.c_str(), "wb");
  fuzz_require(f != nullptr, "cannot write the scratch file");
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

// JPEG, PNG, BMP and TIFF through decode_image_memory (the one entry point the loader uses) and the
// probes.
inline int fuzz_decode(const uint8_t* data, size_t size) {
  DecodeOptions opts;
  opts.max_pixels = 4'000'000;  // keeps each run small; the limit check itself is under test too
  // The last byte picks a DCT downscale target, exercising every libjpeg scale path.
  if (size > 0) opts.min_short_side = (data[size - 1] % 5) * 16;
  try {
    ImageU8 img = decode_image_memory(data, size, "<fuzz>", opts);
    fuzz_require(img.channels == 3 && img.pixels.size() == size_t(img.width) * size_t(img.height) * 3,
                 "decode returns tightly packed 8-bit RGB");
  } catch (const Error&) {
  }
  try {
    switch (detect_image_format(data, size)) {
      case ImageFormat::Jpeg: probe_jpeg(data, size, "<fuzz>"); break;
      case ImageFormat::Png: probe_png(data, size, "<fuzz>"); break;
      case ImageFormat::Bmp: probe_bmp(data, size, "<fuzz>"); break;
      case ImageFormat::Tiff: probe_tiff(data, size, "<fuzz>"); break;
      default: break;
    }
  } catch (const Error&) {
  }
  return 0;
}

// SIND data_json listings (with a round trip) and the generic CSV reader.
inline int fuzz_dataset_json(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    DatasetList list = parse_data_json(text, "<fuzz>");
    fuzz_require(parse_data_json(to_data_json(list), "<roundtrip>").entries.size() == list.entries.size(),
                 "data_json round trip keeps the entry count");
    summarize_dataset(list);
  } catch (const Error&) {
  }
  try {
    CsvTable t = parse_csv(text, "<fuzz>");
    for (const auto& row : t.rows) fuzz_require(row.size() == t.header.size(), "CSV rows have header width");
  } catch (const Error&) {
  }
  return 0;
}

// The safetensors reader; every tensor that opens is read in full so bad offsets show under ASan.
inline int fuzz_safetensors(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("input.safetensors", data, size);
  try {
    SafetensorsFile file = SafetensorsFile::open(path);
    for (const std::string& name : file.names()) {
      Tensor t = file.get(name);
      const auto* bytes = static_cast<const volatile uint8_t*>(t.raw_data());
      uint8_t sum = 0;
      for (size_t i = 0; i < t.nbytes(); ++i) sum ^= bytes[i];
      (void)sum;
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace iqa::fuzz

#include "tests/fuzz/targets_training.h"  // the training-side parsers
#include "tests/fuzz/targets_formats.h"   // .xlsx, .mat, the compression codecs
#include "tests/fuzz/targets_cli.h"       // the binaries' command lines
#include "tests/fuzz/target_table.h"      // the table of all targets
