// Where the committed test fixtures (tests/fixtures/models, tests/fixtures/resize) are, found at run
// time: a test binary built in one checkout and run from another, or from a build folder copied to a
// GPU machine, would not find them at the source path compiled in.
//
// Order: $IQA_FIXTURES_DIR (the fixtures folder itself), $IQA_SOURCE_DIR/tests/fixtures (a checkout),
// tests/fixtures in the executable's folder or any folder above it (a build folder inside a checkout),
// then the checkout the binary was configured in. A variable that is set must be right: it wins over
// the rest, so a wrong one is an error rather than a silent fall-through to other fixtures.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"

namespace iqa::testing {

// What the search looks at, passed in so tests can give it made-up folders.
struct FixtureSearch {
  const char* fixtures_env = nullptr;  // $IQA_FIXTURES_DIR, or nullptr when unset
  const char* source_env = nullptr;    // $IQA_SOURCE_DIR, or nullptr when unset
  std::filesystem::path executable;    // /proc/self/exe, empty when unknown
  std::string compiled_in;             // the IQA_SOURCE_DIR the tests were built with, may be empty
};

inline std::filesystem::path executable_path() {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : p;
}

// The fixtures folder, or an iqa::Error that names every place looked at.
inline std::filesystem::path find_fixtures_dir(const FixtureSearch& s) {
  namespace fs = std::filesystem;
  auto is_dir = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec);
  };
  if (s.fixtures_env && *s.fixtures_env) {
    if (is_dir(s.fixtures_env)) return s.fixtures_env;
    fail(cat("test fixtures: IQA_FIXTURES_DIR=", s.fixtures_env, " is not a folder (unset it to search)"));
  }
  if (s.source_env && *s.source_env) {
    const fs::path p = fs::path(s.source_env) / "tests" / "fixtures";
    if (is_dir(p)) return p;
    fail(cat("test fixtures: IQA_SOURCE_DIR=", s.source_env, " has no tests/fixtures folder (", p.string(),
             "; unset it to search)"));
  }
  std::vector<fs::path> tried;
  if (!s.executable.empty()) {
    for (fs::path dir = s.executable.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      tried.push_back(dir / "tests" / "fixtures");
      if (is_dir(tried.back())) return tried.back();
      if (dir == dir.root_path()) break;
    }
  }
  if (!s.compiled_in.empty()) {
    tried.push_back(fs::path(s.compiled_in) / "tests" / "fixtures");
    if (is_dir(tried.back())) return tried.back();
  }
  std::string list;
  for (const auto& p : tried) list += "\n  " + p.string();
  fail(cat("test fixtures: no tests/fixtures folder found; set IQA_FIXTURES_DIR (the folder) or IQA_SOURCE_DIR (a "
           "checkout). Tried:",
           list.empty() ? std::string("\n  (nothing: executable path unknown, no compiled-in source dir)") : list));
}

// The fixtures folder of this process, searched once.
inline const std::filesystem::path& fixtures_dir() {
  static const std::filesystem::path dir = find_fixtures_dir(FixtureSearch{
      std::getenv("IQA_FIXTURES_DIR"), std::getenv("IQA_SOURCE_DIR"), executable_path(),
#ifdef IQA_SOURCE_DIR
      IQA_SOURCE_DIR
#else
      ""
#endif
  });
  return dir;
}

// fixtures_dir()/relative, which must exist: the error names the full path and how to point elsewhere.
inline std::string fixture_file(const std::string& relative) {
  const std::filesystem::path p = fixtures_dir() / relative;
  std::error_code ec;
  if (!std::filesystem::exists(p, ec))
    fail(cat("test fixture ", p.string(), " does not exist (fixtures folder ", fixtures_dir().string(),
             "; IQA_FIXTURES_DIR picks another; tools/make_fixtures.py writes the model fixtures)"));
  return p.string();
}

}  // namespace iqa::testing
