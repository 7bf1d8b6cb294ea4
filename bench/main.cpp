// iqa-bench: times engine ops at fixed shapes on CPU or CUDA. Prints a table (median and best time,
// GB/s for memory-bound ops, TFLOP/s for GEMM-like ones) and one JSON line per result, in the format
// bench/torch_peer.py prints, so bench/gpu_check.sh can join the two.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/bench_flags.h"
#include "bench/bench_ops.h"
#include "bench/timer.h"
#include "engine/autograd.h"
#include "engine/cuda_runtime.h"
#include "engine/omp_wait_policy.h"

using namespace iqa;
using namespace iqa::bench;

namespace {

struct Result {
  BenchCase c;
  double median_ms = 0, min_ms = 0;
  int reps = 0;
};

std::string json_line(const Result& r, const std::string& device) {
  nlohmann::ordered_json j;
  j["impl"] = "iqa";
  j["device"] = device;
  j["op"] = r.c.op;
  j["shape"] = r.c.shape;
  j["dtype"] = dtype_name(r.c.dtype);
  j["median_ms"] = r.median_ms;
  j["min_ms"] = r.min_ms;
  j["reps"] = r.reps;
  if (r.c.bytes > 0) j["gbps"] = r.c.bytes / (r.median_ms * 1e-3) / 1e9;
  if (r.c.flops > 0) j["tflops"] = r.c.flops / (r.median_ms * 1e-3) / 1e12;
  if (r.c.items > 0) j["images_per_s"] = r.c.items / (r.median_ms * 1e-3);
  return j.dump();
}

void print_table(const std::vector<Result>& results, const std::string& device) {
  std::printf("iqa-bench on %s (median of timed reps after warm-up)\n", device.c_str());
  std::printf("%-12s %-22s %-5s %11s %11s %10s %9s %9s\n", "op", "shape", "dtype", "median_ms", "min_ms", "GB/s",
              "TFLOP/s", "images/s");
  for (const auto& r : results) {
    char gbps[32] = "-", tflops[32] = "-", images[32] = "-";
    if (r.c.bytes > 0) std::snprintf(gbps, sizeof gbps, "%.4g", r.c.bytes / (r.median_ms * 1e-3) / 1e9);
    if (r.c.flops > 0) std::snprintf(tflops, sizeof tflops, "%.4g", r.c.flops / (r.median_ms * 1e-3) / 1e12);
    if (r.c.items > 0) std::snprintf(images, sizeof images, "%.4g", r.c.items / (r.median_ms * 1e-3));
    std::printf("%-12s %-22s %-5s %11.4f %11.4f %10s %9s %9s\n", r.c.op.c_str(), r.c.shape.c_str(),
                dtype_name(r.c.dtype), r.median_ms, r.min_ms, gbps, tflops, images);
  }
}

int run(int argc, char** argv) {
  CLI::App app{"iqa-bench: time engine ops at fixed shapes (see bench/bench_ops.cpp)"};
  BenchArgs args;
  add_bench_flags(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  finish_bench_args(args);
  if (args.list) {
    for (const auto& n : bench_op_names()) std::printf("%s\n", n.c_str());
    return 0;
  }

  const bool on_cuda = args.device == "cuda";
  Device device = on_cuda ? cuda_device(0) : kCPU;
  if (on_cuda) IQA_CHECK(cuda::available(), "iqa-bench: --device cuda: ", cuda::unavailable_reason());
  const std::vector<std::string> ops = args.ops.empty() ? bench_op_names() : args.ops;

  NoGradGuard no_grad;
  std::vector<Result> results;
  int failures = 0;
  for (const auto& op : ops) {
    try {
      Result r;
      r.c = make_bench_case(op, device, args.dtype, args.small);
      std::vector<double> ms = time_reps(device, args.warmup, args.reps, r.c.run);
      r.median_ms = median(ms);
      r.min_ms = *std::min_element(ms.begin(), ms.end());
      r.reps = args.reps;
      r.c.run = nullptr;  // frees the inputs before the next case allocates its own
      std::printf("%s\n", json_line(r, args.device).c_str());
      std::fflush(stdout);
      results.push_back(std::move(r));
    } catch (const Error& e) {
      // One broken op should not hide the others' numbers.
      std::fprintf(stderr, "error: %s: %s\n", op.c_str(), e.what());
      ++failures;
    }
  }
  if (!args.json_only) print_table(results, on_cuda ? device.str() : "cpu");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  iqa::use_passive_omp_waits(argv);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
