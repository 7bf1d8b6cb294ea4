// tools/engine-smoke.cpp as a user runs it: the MLP's loss falls, and its choices are checked when the
// command line is parsed (CLI11's exit 105 with the allowed spellings) or, for a GPU-only choice on a
// machine without one, before any training (exit 1). Started without OMP_WAIT_POLICY, a binary
// re-executes itself with passive waits (engine/omp_wait_policy.h); a user's own choice stays.
#include <cstdio>
#include <regex>
#include <string>

#include "tests/reliability/child_process.h"
#include "tests/testing.h"

using namespace iqa::testing;
using Catch::Contains;

namespace {

// OMP_WAIT_POLICY "" reads as unset (the tests' own environment has it set, tools/setup.sh).
ChildResult smoke(const TempDir& dir, std::vector<std::string> args, const std::string& wait_policy = "") {
  args.insert(args.begin(), sibling_binary("engine-smoke"));
  ChildOptions opts;
  opts.log = dir.file("engine-smoke.log");
  opts.env["OMP_NUM_THREADS"] = "1";  // a 512 x 64 MLP gains nothing from threads
  opts.env["OMP_WAIT_POLICY"] = wait_policy;
  return run_child(args, opts);
}

double loss_at(const std::string& output, const std::string& label) {
  std::smatch m;
  const std::regex re(label + " +([0-9.]+)");
  REQUIRE(std::regex_search(output, m, re));
  return std::stod(m[1].str());
}

}  // namespace

TEST_CASE("engine-smoke: the loss falls and bad choices are refused by name", "[cli]") {
  TempDir dir("engine_smoke");
  const ChildResult ok = smoke(dir, {"--device", "cpu", "--steps", "100", "--print-every", "50"});
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
  const double first = loss_at(ok.output, "step +1  loss"), last = loss_at(ok.output, "final loss");
  CHECK(first > 0.3);          // 0.57 from seed 0
  CHECK(last < 0.05 * first);  // 0.0094 after 100 steps
  CHECK_THAT(ok.output, Contains("OpenMP waits passive"));
  const ChildResult active = smoke(dir, {"--device", "cpu", "--steps", "2"}, "active");
  CHECK(active.exit_code == 0);
  CHECK_THAT(active.output, Contains("OpenMP waits active"));

  const ChildResult bad_device = smoke(dir, {"--device", "gpu"});
  CHECK(bad_device.exit_code == 105);
  CHECK_THAT(bad_device.output, Contains("--device must be auto, cpu or cuda, got 'gpu'"));
  const ChildResult bad_autocast = smoke(dir, {"--autocast", "fp8"});
  CHECK(bad_autocast.exit_code == 105);
  CHECK_THAT(bad_autocast.output, Contains("--autocast must be none or bf16, got 'fp8'"));
  const ChildResult cpu_bf16 = smoke(dir, {"--device", "cpu", "--autocast", "bf16"});
  CHECK(cpu_bf16.exit_code == 1);
  CHECK_THAT(cpu_bf16.output, Contains("--autocast bf16 needs a GPU"));
}
