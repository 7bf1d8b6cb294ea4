// tools/cli_bounds.h: the lower-bound checks the tools' numeric flags use, through CLI11 as a tool
// parses: what passes, and the message for what does not (the flag, the bound, the text given).
#include <CLI/CLI.hpp>

#include "tests/testing.h"
#include "tools/cli_bounds.h"

namespace {

// Parses "prog <flag> <text>" with one option checked by `check`; returns "" or CLI11's message.
std::string parse_with(CLI::Validator check, const std::string& text, double* value = nullptr) {
  CLI::App app;
  double v = -99;
  app.add_option("--n", v)->check(check);
  const char* argv[] = {"prog", "--n", text.c_str()};
  try {
    app.parse(3, argv);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  if (value) *value = v;
  return "";
}

}  // namespace

TEST_CASE("cli bounds: at_least and greater_than accept the bound's side and name the rest", "[config][cli]") {
  using iqa::tools::at_least;
  using iqa::tools::greater_than;
  double v = 0;
  REQUIRE(parse_with(at_least(1), "1", &v).empty());
  REQUIRE(v == 1);
  REQUIRE(parse_with(at_least(0), "0").empty());
  REQUIRE(parse_with(greater_than(0), "1e-9", &v).empty());
  REQUIRE(v == 1e-9);
  REQUIRE(parse_with(at_least(1), "0") == "--n: must be at least 1, got '0'");
  REQUIRE(parse_with(at_least(0), "-2") == "--n: must be at least 0, got '-2'");
  REQUIRE(parse_with(greater_than(0), "0") == "--n: must be greater than 0, got '0'");
  // NaN compares false both ways, so it fails every bound instead of slipping through.
  REQUIRE(parse_with(greater_than(0), "nan") == "--n: must be greater than 0, got 'nan'");
  REQUIRE(parse_with(at_least(0.5), "half") == "--n: must be a number at least 0.5, got 'half'");
}
