// The command-line fuzz target: the parse step of every binary that reads a command line (sind-train,
// sind-score, make-splits, dsmix-train, iqa-scenes, iqa-distort, loader-bench, engine-smoke, iqa-bench),
// through the same flag registrations and post-parse checks their mains use (tools/*_flags.h,
// bench/bench_flags.h), into a configuration; nothing is run. Input: byte 0 picks the binary, the rest
// is its arguments, split at NUL and newline bytes. Contract: CLI11 rejects the line (CLI::Error), a
// check rejects it (iqa::Error), or the configuration holds what the run relies on (fuzz_require).
// Included from tests/fuzz/targets.h.
#pragma once
#include <CLI/CLI.hpp>
#include <type_traits>

#include "bench/bench_flags.h"
#include "tools/dsmix_flags.h"
#include "tools/engine_smoke_flags.h"
#include "tools/iqa_distort_flags.h"
#include "tools/iqa_scenes_flags.h"
#include "tools/loader_bench_flags.h"
#include "tools/make_splits_flags.h"
#include "tools/sind_flags.h"
#include "tools/sind_score_flags.h"
#include "training/sind/demo.h"

namespace iqa::fuzz {

struct CommandLine {
  std::vector<std::string> words;  // words[0]: the program name
  std::vector<const char*> argv;

  CommandLine(const char* program, const uint8_t* data, size_t size) {
    words.emplace_back(program);
    std::string word;
    for (size_t i = 0; i < size && words.size() < 48; ++i) {
      if (data[i] == 0 || data[i] == '\n') {
        words.push_back(word);
        word.clear();
      } else {
        word += char(data[i]);
      }
    }
    if (!word.empty() && words.size() < 48) words.push_back(word);
    for (const std::string& w : words) argv.push_back(w.c_str());
  }
  int argc() const { return int(argv.size()); }
};

inline void cli_sind_train(const CommandLine& cl) {
  training::SindConfig c;
  CLI::App app;
  training::add_sind_flags(app, c);
  app.parse(cl.argc(), cl.argv.data());
  if (c.demo) {  // as sind-train: the demo's defaults, then the flags given
    training::SindConfig d = training::demo_config(app.count("--project_dir") ? c.project_dir : "demo-run");
    CLI::App again;
    training::add_sind_flags(again, d);
    again.parse(cl.argc(), cl.argv.data());
    d.validate();
  } else {
    c.validate();
  }
}

// A binary's parse step: its flags, CLI11's parse, then its post-parse checks (with or without the app).
template <class Args, class Add, class Finish>
Args parse_step(const CommandLine& cl, Add add, Finish finish) {
  Args a;
  CLI::App app;
  add(app, a);
  app.parse(cl.argc(), cl.argv.data());
  if constexpr (std::is_invocable_v<Finish, Args&, const CLI::App&>)
    finish(a, app);
  else
    finish(a);
  return a;
}

inline void cli_sind_score(const CommandLine& cl) {
  // resolve() (the reference's --data_dir / --save_dir) runs as the app's callback inside the parse.
  const auto a = parse_step<tools::ScoreFlags>(cl, tools::add_score_flags, [](const tools::ScoreFlags& f) { f.require_inputs(); });
  fuzz_require(!a.inputs.empty() || !a.data_json.empty(), "sind-score has something to score");
}

inline void cli_make_splits(const CommandLine& cl) {
  const auto a = parse_step<MakeSplitsArgs>(cl, add_make_splits_flags, finish_make_splits_args);
  fuzz_require(a.opts.random_count >= 1 && a.opts.random_count <= 1000, "--splits within 1..1000");
  fuzz_require(a.opts.layout == "reference" || a.opts.layout == "iqa", "a known --path_style");
}

inline void cli_dsmix_train(const CommandLine& cl) {
  const auto a = parse_step<training::DsmixArgs>(cl, training::add_dsmix_flags, training::finish_dsmix_args);
  if (!a.c.demo) a.c.validate();
}

inline void cli_iqa_scenes(const CommandLine& cl) {
  const auto a = parse_step<IqaScenesArgs>(cl, add_iqa_scenes_flags, finish_iqa_scenes_args);
  fuzz_require(a.batch > 0 && !a.labels.empty(), "iqa-scenes has a positive batch and labels");
}

inline void cli_iqa_distort(const CommandLine& cl) {
  const auto a = parse_step<IqaDistortArgs>(cl, add_iqa_distort_flags, finish_iqa_distort_args);
  for (int t : a.opts.types) fuzz_require(t >= 1 && t <= kNumDistortionTypes, "--types within 1..25");
  for (int l : a.opts.levels) fuzz_require(l >= 1 && l <= kNumDistortionLevels, "--levels within 1..5");
  fuzz_require(a.opts.types_per_image >= 0, "--types-per-image is not negative");
}

inline void cli_loader_bench(const CommandLine& cl) {
  const auto a = parse_step<LoaderBenchArgs>(cl, add_loader_bench_flags, finish_loader_bench_args);
  fuzz_require(a.images >= 1 && a.distinct >= 1 && a.batch >= 1, "the bench's counts are positive");
  fuzz_require(!a.worker_counts.empty(), "at least one worker count");
  for (int w : a.worker_counts) fuzz_require(w >= 1, "every worker count is positive");
}

inline void cli_engine_smoke(const CommandLine& cl) {
  const auto a = parse_step<EngineSmokeArgs>(cl, add_engine_smoke_flags, [](const EngineSmokeArgs&) {});
  fuzz_require(a.steps >= 1 && a.samples >= 1 && a.print_every >= 1 && a.lr > 0, "engine-smoke's counts are positive");
}

inline void cli_iqa_bench(const CommandLine& cl) {
  const auto a = parse_step<bench::BenchArgs>(cl, bench::add_bench_flags, bench::finish_bench_args);
  fuzz_require(a.reps >= 1 && a.warmup >= 0, "iqa-bench times at least one rep after a non-negative warm-up");
  fuzz_require(a.device == "cpu" || a.device == "cuda", "a known --device");
}

struct CliTool {
  const char* program;
  void (*parse)(const CommandLine&);
};

inline constexpr CliTool kCliTools[] = {
    {"sind-train", cli_sind_train},   {"sind-score", cli_sind_score},   {"make-splits", cli_make_splits},
    {"dsmix-train", cli_dsmix_train}, {"iqa-scenes", cli_iqa_scenes},   {"iqa-distort", cli_iqa_distort},
    {"loader-bench", cli_loader_bench}, {"engine-smoke", cli_engine_smoke}, {"iqa-bench", cli_iqa_bench}};

inline int fuzz_cli(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const CliTool& tool = kCliTools[data[0] % (sizeof(kCliTools) / sizeof(kCliTools[0]))];
  try {
    tool.parse(CommandLine(tool.program, data + 1, size - 1));
  } catch (const CLI::Error&) {
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace iqa::fuzz
