// Catch2's runner, started with passive OpenMP waits like every tool (engine/omp_wait_policy.h), so
// `build/iqa_tests` run by hand is as fast as under tools/setup.sh, which exports the policy.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/omp_wait_policy.h"

int main(int argc, char** argv) {
  iqa::use_passive_omp_waits(argv);
  return Catch::Session().run(argc, argv);
}
