// The benchmark cases of iqa-bench: one op at one fixed shape, with the traffic or arithmetic it
// implies so the harness can turn a time into GB/s or TFLOP/s. bench/torch_peer.py mirrors every
// case (same names, shapes and byte/FLOP counts); keep the two in step.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace iqa::bench {

struct BenchCase {
  std::string op;      // "layer_norm"
  std::string shape;   // "12608x768"; GEMMs: "MxKxN"
  DType dtype = DType::F32;
  double bytes = 0;    // bytes read + written by one call (memory-bound ops), else 0
  double flops = 0;    // floating-point operations of one call (GEMM-like ops), else 0
  double items = 0;    // images processed by one call (whole training steps), else 0
  std::function<void()> run;  // one call of the op on inputs made when the case was built
};

// Every op name, in the order they run by default: the built-in cases, then the registered ones.
std::vector<std::string> bench_op_names();

// Benchmarks living in their own file (bench/bench_<family>.cpp) register a factory at static
// initialisation: `static BenchRegistrar reg("scale_shift_loss", make_scale_shift_case);`
using BenchFactory = std::function<BenchCase(Device device, DType dtype, bool small)>;
struct BenchRegistrar {
  BenchRegistrar(const std::string& op, BenchFactory factory);
};

// A factory for the iqa-bench case of that name in the op table (tests/op_table/), which holds the
// op, its ViT-B/16 or ResNet-50 operands and its byte/FLOP count; fails naming the case if no row has it.
BenchFactory op_table_bench(const std::string& name);

// Builds the case (allocating its random inputs on `device`). `small` picks the reduced shapes meant
// for a CPU run that finishes in seconds.
BenchCase make_bench_case(const std::string& op, Device device, DType dtype, bool small);

}  // namespace iqa::bench
