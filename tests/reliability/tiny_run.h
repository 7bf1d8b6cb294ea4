// A sind-train run small enough to start a dozen times in a test: 50 synthetic 96x96 images (2 scenes),
// the tiny ViT, batches of 10 (5 steps a pass), 3 passes (--epochs 2), evaluation and a checkpoint after
// each, every step logged, always --resume auto (so a rerun continues the run), one OpenMP thread.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/reliability/child_process.h"

namespace iqa::testing {

struct TinyRun {
  std::filesystem::path root;  // a fresh folder under the temp directory, holding the data and the runs
  std::string data, json;

  explicit TinyRun(const std::string& name);
  ~TinyRun();
  // sind-train's command line for a run in `project_dir`; `extra` holds flag/value pairs that replace
  // the defaults' values or are appended.
  std::vector<std::string> args(const std::string& project_dir, const std::vector<std::string>& extra = {}) const;
  // Runs it with IQA_KILL_AT=kill_at ("" = none), its output in <root>/child.log.
  ChildResult run(const std::vector<std::string>& argv, const std::string& kill_at = "",
                  long long file_size_limit = -1) const;
};

// sind-train's `argv` started as `world` torchrun-style ranks on this host (TCP, a free port, one
// OpenMP thread each), rank r's output in <root>/<tag>_rank<r>.log; extra_env(r) adds to rank r's
// environment.
struct RankProcesses {
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
};
RankProcesses start_ranks(const TinyRun& tiny, int world, const std::vector<std::string>& argv, const std::string& tag,
                          const std::function<std::map<std::string, std::string>(int rank)>& extra_env = {});

// The run's checkpoint under project_dir (found wherever the trainer nests it), or empty when none.
std::filesystem::path find_checkpoint(const std::string& project_dir);
std::string file_bytes(const std::filesystem::path& p);

}  // namespace iqa::testing
