// How every tool in tools/ reports a failure: one "error: <message>" line on stderr. Messages built
// by the library often begin with the tool's own name ("sind-train: invalid configuration: ..."),
// which would read "sind-train: sind-train: ..." if the tool prefixed it again; that prefix is dropped.
#pragma once
#include <cstdio>
#include <exception>
#include <string>

namespace iqa::tools {

inline std::string error_line(const std::string& tool, const std::string& what) {
  const std::string own = tool + ": ";
  return "error: " + (what.rfind(own, 0) == 0 ? what.substr(own.size()) : what);
}

// Prints the error line and returns the exit status (1).
inline int report_error(const std::string& tool, const std::exception& e) {
  std::fprintf(stderr, "%s\n", error_line(tool, e.what()).c_str());
  return 1;
}

}  // namespace iqa::tools
