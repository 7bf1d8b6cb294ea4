// libFuzzer target: the safetensors reader (header JSON, dtypes, shapes, offsets) on arbitrary files.
// SafetensorsFile maps a path, so each input is written to a per-process scratch file first. Every
// tensor that opens is read in full so out-of-range views show up under AddressSanitizer.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/iqa_fuzz_safetensors_" + std::to_string(getpid()) + ".safetensors";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    iqa::SafetensorsFile file = iqa::SafetensorsFile::open(path);
    for (const std::string& name : file.names()) {
      iqa::Tensor t = file.get(name);
      const auto* bytes = static_cast<const volatile uint8_t*>(t.raw_data());
      const size_t n = t.nbytes();
      uint8_t sum = 0;
      for (size_t i = 0; i < n; ++i) sum ^= bytes[i];
      (void)sum;
    }
  } catch (const iqa::Error&) {
  }
  return 0;
}
