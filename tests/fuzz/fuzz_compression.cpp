// libFuzzer main for the compression target; its body is iqa::fuzz::fuzz_compression in tests/fuzz/targets.h, which the
// test suite also replays (tests/test_fuzz_regressions.cpp). Built and run by tools/fuzz.sh.
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return iqa::fuzz::fuzz_compression(data, size); }
