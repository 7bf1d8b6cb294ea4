// The reliability tests run the project's binaries as child processes (fork + exec), so that a kill,
// a file-size limit or an exit code hits the binary exactly as it would on a cluster node.
#pragma once
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace iqa::testing {

// A binary built next to iqa_tests (sind-train, sind-score, ...); fails the test when it is absent.
std::string sibling_binary(const std::string& name);

struct ChildOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) this process's environment
  std::string log;                         // stdout and stderr go here (required)
  long long file_size_limit = -1;          // RLIMIT_FSIZE in bytes, SIGXFSZ ignored (-1: none)
};

struct ChildResult {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  std::string output;  // the log's text
  double seconds = 0;  // from wait_child's call to the child's end
  bool timed_out = false;  // it outlived wait_child's limit and was killed
};

pid_t start_child(const std::vector<std::string>& argv, const ChildOptions& opts);
// Waits for the child, SIGKILLing it after `limit_s` seconds (timed_out set) so a hang fails the test
// instead of stalling the suite.
ChildResult wait_child(pid_t pid, const std::string& log, double limit_s = 600);
inline ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& opts) {
  return wait_child(start_child(argv, opts), opts.log);
}

}  // namespace iqa::testing
