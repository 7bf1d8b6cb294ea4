// The shape every tool's main shares: passive OpenMP waits (engine/omp_wait_policy.h), register the
// flags, let CLI11 parse (it prints --help and its own parse errors, with its exit codes), then run
// the body, turning an exception into one "error: ..." line and exit status 1 (tools/tool_error.h).
// The tool's name is the description's text before its first ':'.
#pragma once
#include <CLI/CLI.hpp>
#include <exception>
#include <string>

#include "engine/omp_wait_policy.h"
#include "tools/tool_error.h"

namespace iqa::tools {

template <class Args, class AddFlags, class Body>
int tool_main(int argc, char** argv, const std::string& description, AddFlags add_flags, Body body) {
  use_passive_omp_waits(argv);
  CLI::App app{description};
  Args args;
  add_flags(app, args);
  CLI11_PARSE(app, argc, argv);
  try {
    return body(args, static_cast<const CLI::App&>(app));
  } catch (const std::exception& e) {
    return report_error(description.substr(0, description.find(':')), e);
  }
}

}  // namespace iqa::tools
