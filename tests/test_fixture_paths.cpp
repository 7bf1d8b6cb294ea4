// The run-time search for tests/fixtures (tests/fixture_paths.h), on folders made for each case.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tests/fixture_paths.h"

using namespace iqa;
using namespace iqa::testing;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh folder tree for one test, removed at the end.
struct TempTree {
  fs::path root = fs::temp_directory_path() / ("iqa_fixture_paths_" + std::to_string(::getpid()));
  TempTree() {
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~TempTree() { fs::remove_all(root); }
  fs::path make_dir(const std::string& rel) const {
    fs::create_directories(root / rel);
    return root / rel;
  }
};

}  // namespace

TEST_CASE("fixture search: variables win, then folders above the executable, then the compiled-in checkout",
          "[fixtures]") {
  TempTree t;
  const fs::path near = t.make_dir("checkout/tests/fixtures");
  const fs::path deep_build = t.make_dir("checkout/build/sub");
  const fs::path other = t.make_dir("other/tests/fixtures");
  const fs::path elsewhere = t.make_dir("elsewhere/bin");
  const std::string other_checkout = (t.root / "other").string();

  FixtureSearch s;
  s.executable = deep_build / "iqa_tests";
  s.compiled_in = other_checkout;
  // Two folders up from the executable: the checkout the build folder sits in.
  CHECK(find_fixtures_dir(s) == near);

  // The executable outside any checkout: the compiled-in source folder.
  s.executable = elsewhere / "iqa_tests";
  CHECK(find_fixtures_dir(s) == other);

  // The variables beat both, the fixtures folder itself before a checkout.
  const std::string other_fixtures = other.string(), near_checkout = (t.root / "checkout").string();
  s.executable = deep_build / "iqa_tests";
  s.source_env = other_checkout.c_str();
  CHECK(find_fixtures_dir(s) == other);
  s.source_env = nullptr;
  s.fixtures_env = other_fixtures.c_str();
  CHECK(find_fixtures_dir(s) == other);
  s.source_env = near_checkout.c_str();
  CHECK(find_fixtures_dir(s) == other);
}

TEST_CASE("fixture search: errors name the variable or every folder tried", "[fixtures]") {
  TempTree t;
  const fs::path bin = t.make_dir("a/b");
  const std::string missing = (t.root / "missing").string(), no_fixtures = (t.root / "a").string();

  FixtureSearch s;
  s.executable = bin / "iqa_tests";
  s.fixtures_env = missing.c_str();
  REQUIRE_THROWS_WITH(find_fixtures_dir(s), Contains("IQA_FIXTURES_DIR=" + missing + " is not a folder"));

  s.fixtures_env = "";  // set but empty counts as unset
  s.source_env = no_fixtures.c_str();
  REQUIRE_THROWS_WITH(find_fixtures_dir(s),
                      Contains("IQA_SOURCE_DIR=" + no_fixtures + " has no tests/fixtures folder"));

  s.source_env = nullptr;
  s.compiled_in = missing;
  try {
    find_fixtures_dir(s);
    FAIL("no fixtures folder exists, yet the search returned one");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Contains("set IQA_FIXTURES_DIR"));
    // Every folder from the executable's up to the root, then the compiled-in one, in that order.
    const size_t at_bin = msg.find((bin / "tests/fixtures").string() + "\n");
    const size_t at_a = msg.find((t.root / "a/tests/fixtures").string() + "\n");
    const size_t at_root = msg.find("\n  /tests/fixtures\n");
    const size_t at_compiled = msg.find(missing + "/tests/fixtures");
    REQUIRE(at_bin != std::string::npos);
    CHECK(at_bin < at_a);
    CHECK(at_a < at_root);
    CHECK(at_root < at_compiled);
    CHECK(at_compiled != std::string::npos);
  }
}

TEST_CASE("fixture search: this test binary finds the committed fixtures", "[fixtures]") {
  CHECK(fs::is_directory(fixtures_dir() / "models"));
  CHECK(fs::is_regular_file(fixture_file("resize/src97x61_to_37x23.png")));
  REQUIRE_THROWS_WITH(fixture_file("models/no_such_model.safetensors"),
                      Contains((fixtures_dir() / "models/no_such_model.safetensors").string() + " does not exist"));
}
