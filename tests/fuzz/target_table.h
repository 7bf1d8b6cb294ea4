// The table of every fuzz target: tools/fuzz.sh runs tests/fuzz/fuzz_main.cpp once per entry, the seed
// script writes seeds/<name>/, and the replay test runs each over its seeds and regressions.
#pragma once
#include <vector>

namespace iqa::fuzz {

struct Target {
  const char* name;      // IQA_FUZZ_TARGET=<name>, tests/fuzz/regressions/fuzz_<name>/, seeds/<name>/
  int (*run)(const uint8_t*, size_t);
};

inline const std::vector<Target>& all_targets() {
  static const std::vector<Target> targets = {
      {"decode", fuzz_decode},           {"dataset_json", fuzz_dataset_json}, {"safetensors", fuzz_safetensors},
      {"score_files", fuzz_score_files}, {"kadis_listing", fuzz_kadis_listing}, {"splits", fuzz_splits},
      {"checkpoint", fuzz_checkpoint},   {"xlsx", fuzz_xlsx},                 {"mat", fuzz_mat},
      {"compression", fuzz_compression}, {"cli", fuzz_cli},                 {"xlsx_parts", fuzz_xlsx_parts}};
  return targets;
}

}  // namespace iqa::fuzz
