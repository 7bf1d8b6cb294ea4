// loader-bench's command line, registered here rather than in its main so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the tool does, without timing anything.
#pragma once
#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "tools/cli_choice.h"
#include "training/data/loader.h"  // LoaderOptions' view and decode choices and their spellings

namespace iqa {

struct LoaderBenchArgs {
  std::vector<int> worker_counts;
  int images = 256, distinct = 8, batch = 32;
  std::string sizes_arg = "both";
  LoaderOptions chosen;  // --local-view and --decode
  bool cache = false, compare = false;
};

inline void add_loader_bench_flags(CLI::App& app, LoaderBenchArgs& a) {
  app.add_option("--workers", a.worker_counts, "worker counts to time (default 1, 2, 4, ... up to the core count)")
      ->delimiter(',');
  app.add_option("--images", a.images, "images timed per run (default 256)");
  app.add_option("--distinct", a.distinct, "distinct JPEG files per size, cycled (default 8)");
  app.add_option("--batch", a.batch, "batch size (default 32)");
  training::add_choice(app, "--local-view", a.chosen.local_view, "mosaic (2024 SIND) or same-crop (SIND HEAD)");
  app.add_option("--sizes", a.sizes_arg, "koniq (1024x768), spaq (4000x3000) or both")
      ->check(CLI::IsMember({"koniq", "spaq", "both"}));
  training::add_choice(app, "--decode", a.chosen.decode, "exact (full-size decode, the default) or fast (DCT-scaled)");
  app.add_flag("--cache", a.cache, "time the view cache: uncached, cold (filling) and warm epochs, bytes per image");
  app.add_flag("--compare-decode", a.compare, "print how much the fast decode's views differ from the exact ones");
}

// The counts the bench divides by and loops over must be positive (--batch 0 looped forever,
// --distinct 0 divided by zero); the default worker counts are 1, 2, 4, ... up to the core count.
inline void finish_loader_bench_args(LoaderBenchArgs& a) {
  IQA_CHECK(a.images >= 1, "loader-bench: --images must be at least 1, got ", a.images);
  IQA_CHECK(a.distinct >= 1, "loader-bench: --distinct must be at least 1, got ", a.distinct);
  IQA_CHECK(a.batch >= 1, "loader-bench: --batch must be at least 1, got ", a.batch);
  for (int w : a.worker_counts) IQA_CHECK(w >= 1, "loader-bench: --workers must be at least 1 each, got ", w);
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  if (a.worker_counts.empty())
    for (int w = 1; w <= cores; w *= 2) a.worker_counts.push_back(w);
}

}  // namespace iqa
