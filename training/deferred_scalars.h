// Scalars a training step produces on its device (losses, loss terms) kept as tensors and read on
// the host later, many in one copy: a step that reads a value waits for the device to finish it, so
// the loops read only where they log, check or save (issue 16).
#pragma once
#include <cstddef>
#include <vector>

#include "engine/tensor.h"

namespace iqa::training {

// The values of one-element tensors (all on one device), in order, with one host read. The tensors
// are stacked first; mixed floating dtypes are widened (exactly) to f32, or f64 on the CPU.
std::vector<double> read_scalars(const std::vector<Tensor>& scalars);

// A running double sum of scalars added as tensors: the same additions in the same order as adding
// each item() at once (so the sum is bit-identical), with one host read per `fold_every` added
// values and one per sum(), instead of one per value.
class DeferredSum {
 public:
  explicit DeferredSum(size_t fold_every = 256) : fold_every_(fold_every) {}
  void add(const Tensor& scalar);  // kept detached: the step's graph is not held
  double sum();                    // reads what is pending
  void reset(double start = 0);    // start: a sum saved by sum() (a resumed run continues it exactly)

 private:
  size_t fold_every_;
  std::vector<Tensor> pending_;
  double sum_ = 0;
};

}  // namespace iqa::training
