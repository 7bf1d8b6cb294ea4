// Crash points for the reliability tests: IQA_KILL_AT=<name>:<n> makes the process SIGKILL itself the
// n-th time it passes fault_point("<name>"), the way a power cut or the OOM killer would stop it
// there (no destructors, no buffered output flushed). IQA_KILL_SIGNAL=TERM (or INT) sends that signal
// instead, the graceful stop a launcher or scancel sends (the process goes on to its next stop check).
// Unset, a point costs one cached branch.
// The points: "step" (after an optimizer update, before its bookkeeping and step record), "eval_start"
// (an evaluation about to run: nothing of it is written until it returns), "eval_logged" (its records in
// metrics.jsonl, the checkpoint not yet written), "safetensors_write" (after each chunk of a file's
// temporary copy) and "safetensors_renamed" (the file in place, its directory not yet synced).
#pragma once
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

namespace iqa {

inline void fault_point(const char* name) {
  struct Spec {
    std::string name;
    long at = 0;
    int signal = SIGKILL;
    std::atomic<long> seen{0};
    Spec() {
      const char* env = std::getenv("IQA_KILL_AT");
      const char* colon = env ? std::strrchr(env, ':') : nullptr;
      if (!colon) return;
      name.assign(env, size_t(colon - env));
      at = std::strtol(colon + 1, nullptr, 10);
      const char* sig = std::getenv("IQA_KILL_SIGNAL");
      if (sig && std::strcmp(sig, "TERM") == 0) signal = SIGTERM;
      if (sig && std::strcmp(sig, "INT") == 0) signal = SIGINT;
    }
  };
  static Spec spec;
  if (spec.at <= 0 || spec.name != name) return;
  if (spec.seen.fetch_add(1) + 1 == spec.at) std::raise(spec.signal);
}

}  // namespace iqa
