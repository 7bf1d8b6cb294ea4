// iqa-bench's command line, registered here rather than in bench/main.cpp so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the benchmark does, without timing anything.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/error.h"
#include "kernels/common.h"
#include "tools/cli_bounds.h"

namespace iqa::bench {

struct BenchArgs {
  std::string device = "cpu";
  std::vector<std::string> ops;  // empty: every op
  int reps = -1, warmup = -1;    // -1 until finish_bench_args: the device's default
  std::string dtype_text;
  DType dtype = DType::F32;
  bool json_only = false, small = false, list = false;
};

inline void add_bench_flags(CLI::App& app, BenchArgs& a) {
  app.add_option("--device", a.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--ops", a.ops, "ops to run, comma-separated (default: all; --list shows them)")->delimiter(',');
  app.add_option("--reps", a.reps, "timed repetitions (default 100 on cuda, 10 on cpu)")->check(tools::at_least(1));
  app.add_option("--warmup", a.warmup, "untimed repetitions first (default 10 on cuda, 2 on cpu)")
      ->check(tools::at_least(0));
  app.add_option("--dtype", a.dtype_text, "f32, bf16, f16 or f64 (default bf16 on cuda, f32 on cpu)");
  app.add_flag("--json", a.json_only, "print only the JSON lines");
  app.add_flag("--small", a.small, "reduced batch sizes, for a CPU run of a few seconds");
  app.add_flag("--list", a.list, "list the ops and exit");
}

// The device's defaults for what was not given, and the dtype's spelling read.
inline void finish_bench_args(BenchArgs& a) {
  const bool on_cuda = a.device == "cuda";
  if (a.dtype_text.empty()) a.dtype = on_cuda ? DType::BF16 : DType::F32;
  else if (a.dtype_text == "f32") a.dtype = DType::F32;
  else if (a.dtype_text == "bf16") a.dtype = DType::BF16;
  else if (a.dtype_text == "f16") a.dtype = DType::F16;
  else if (a.dtype_text == "f64") a.dtype = DType::F64;
  else fail(cat("iqa-bench: unknown --dtype '", a.dtype_text, "' (f32, bf16, f16, f64)"));
  if (a.reps < 0) a.reps = on_cuda ? 100 : 10;
  if (a.warmup < 0) a.warmup = on_cuda ? 10 : 2;
}

}  // namespace iqa::bench
