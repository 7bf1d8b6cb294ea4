// The one libFuzzer binary for every target in tests/fuzz/target_table.h: IQA_FUZZ_TARGET=<name> picks
// the target (tools/fuzz.sh sets it), so the instrumented target code compiles once, not per target.
// The bodies live in tests/fuzz/targets*.h, which the test suite also replays
// (tests/test_fuzz_regressions.cpp).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/fuzz/targets.h"

namespace {
const iqa::fuzz::Target* chosen = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("IQA_FUZZ_TARGET");
  std::string known;
  for (const iqa::fuzz::Target& t : iqa::fuzz::all_targets()) {
    if (name && std::strcmp(t.name, name) == 0) chosen = &t;
    known += std::string(known.empty() ? "" : ", ") + t.name;
  }
  if (!chosen) {
    std::fprintf(stderr, "IQA_FUZZ_TARGET=%s is not a fuzz target (known: %s)\n", name ? name : "", known.c_str());
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return chosen->run(data, size); }
