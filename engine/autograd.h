// Reverse-mode autograd on a dynamic tape. An op that wants gradients calls `record(...)` with a
// backward closure; `Tensor::backward()` walks the graph in reverse topological order, sums the
// gradients that meet at a tensor, accumulates into leaves' `.grad`, and frees the graph.
//
// Rule for backward closures: never capture an op's *output* Tensor (that would make a cycle
// output -> grad_fn -> closure -> output). Capture `out.detach()` instead, which shares the storage.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/scoped_flag.h"
#include "engine/tensor.h"

namespace iqa {

// Given dL/d(output), returns dL/d(input_i) for each recorded input, in order. An undefined Tensor
// means "no gradient for this input". Gradients may have the input's shape or (for broadcasting
// ops) be reduced by the caller; record() checks shapes match exactly.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;
  std::vector<Tensor> inputs;
  BackwardFn backward;
};

bool grad_enabled();

// RAII: disables recording in this thread for its lifetime (torch.no_grad()).
class NoGradGuard : ScopedFlag {
 public:
  NoGradGuard();
};

// RAII: enables recording in this thread for its lifetime (torch.enable_grad()), e.g. a training step
// timed inside a no-grad benchmark harness.
class EnableGradGuard : ScopedFlag {
 public:
  EnableGradGuard();
};

// True when grad is enabled and any of the inputs requires grad.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `out` when any_requires_grad(inputs). Call after computing `out`.
void record(const char* name, Tensor& out, std::vector<Tensor> inputs, BackwardFn backward);

// Runs backward from `root` with upstream gradient `grad` (ones for a scalar when undefined).
void run_backward(const Tensor& root, const Tensor& grad);
// Backward from several tensors at once (torch.autograd.backward): grads[i] arrives at roots[i]
// (undefined: ones, for a scalar), and a node fed by more than one root sees the sum, in one walk.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads);

}  // namespace iqa
