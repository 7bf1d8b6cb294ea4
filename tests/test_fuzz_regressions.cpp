// Replays every fuzz target (tests/fuzz/targets.h) on its seed corpus and on every committed input
// in tests/fuzz/regressions/fuzz_<target>/, so a fixed crash stays fixed without clang or libFuzzer.
// A crash or sanitizer report kills the test; an exception other than the parsers' iqa::Error fails it.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "testing.h"
#include "tests/fuzz/seeds.h"
#include "tests/fuzz/targets.h"
#include "training/image/decode.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

size_t replay(const iqa::fuzz::Target& target, const std::vector<fs::path>& inputs) {
  for (const fs::path& p : inputs) {
    INFO("target " << target.name << ", input " << p.string());
    const std::vector<uint8_t> bytes = iqa::read_file_bytes(p.string());
    CHECK(target.run(bytes.data(), bytes.size()) == 0);
  }
  return inputs.size();
}

}  // namespace

TEST_CASE("fuzz targets survive their seeds and every committed regression input", "[fuzz]") {
  const fs::path seeds = fs::temp_directory_path() / ("iqa_fuzz_seeds_" + std::to_string(getpid()));
  fs::remove_all(seeds);
  iqa::fuzz::write_seeds(seeds, IQA_SOURCE_DIR);
  const fs::path regressions = fs::path(IQA_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  REQUIRE(iqa::fuzz::all_targets().size() == 12);
  for (const iqa::fuzz::Target& t : iqa::fuzz::all_targets()) {
    INFO("target " << t.name);
    // Every target has seeds and at least one committed regression input to replay.
    CHECK(replay(t, files_in(seeds / t.name)) >= 1);
    CHECK(replay(t, files_in(regressions / ("fuzz_" + std::string(t.name)))) >= 1);
  }
  fs::remove_all(seeds);
}

TEST_CASE("fuzz replay: empty and one-byte inputs are handled by every target", "[fuzz]") {
  const uint8_t one[1] = {0xff};
  for (const iqa::fuzz::Target& t : iqa::fuzz::all_targets()) {
    INFO("target " << t.name);
    CHECK(t.run(one, 0) == 0);
    CHECK(t.run(one, 1) == 0);
  }
}
