#include "tests/reliability/child_process.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "tests/testing.h"

extern char** environ;

namespace iqa::testing {

std::string sibling_binary(const std::string& name) {
  const auto p = std::filesystem::read_symlink("/proc/self/exe").parent_path() / name;
  if (!std::filesystem::exists(p)) FAIL("this test runs " << p << ": build the " << name << " target next to iqa_tests");
  return p.string();
}

pid_t start_child(const std::vector<std::string>& argv, const ChildOptions& opts) {
  REQUIRE(!argv.empty());
  REQUIRE(!opts.log.empty());
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (!opts.env.count(kv.substr(0, kv.find('=')))) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : opts.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> args, envp;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const int fd = ::open(opts.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);

  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (opts.file_size_limit >= 0) {
      // The limit counts every file the child writes, its log included (kept far smaller by the tests).
      std::signal(SIGXFSZ, SIG_IGN);
      const rlimit lim{rlim_t(opts.file_size_limit), rlim_t(opts.file_size_limit)};
      setrlimit(RLIMIT_FSIZE, &lim);
    }
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  ::close(fd);
  return pid;
}

ChildResult wait_child(pid_t pid, const std::string& log, double limit_s) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ChildResult r;
  int status = 0;
  for (;;) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got < 0) FAIL("waitpid(" << pid << ") failed");
    if (got == pid) break;
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (r.seconds > limit_s && !r.timed_out) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  std::ifstream f(log);
  r.output.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return r;
}

}  // namespace iqa::testing
