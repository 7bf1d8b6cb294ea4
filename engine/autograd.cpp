#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/amp.h"
#include "engine/ops.h"

namespace iqa {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : ScopedFlag(t_grad_enabled, false) {}
EnableGradGuard::EnableGradGuard() : ScopedFlag(t_grad_enabled, true) {}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, Tensor& out, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
}

namespace {
// Accumulates without recording: gradients are plain values here (no higher-order autograd).
// The CPU kernels compute in f32/f64, so bf16/f16 gradients (CPU autocast's emulation) are summed in f32.
Tensor accumulate(const Tensor& acc, const Tensor& g) {
  if (!acc.defined()) return g;
  if (acc.device().is_cpu() && (acc.dtype() == DType::BF16 || acc.dtype() == DType::F16))
    return add(acc.to(DType::F32), g.to(DType::F32)).to(acc.dtype());
  return add(acc, g);
}
}  // namespace

void run_backward(const Tensor& root, const Tensor& grad) { run_backward(std::vector<Tensor>{root}, {grad}); }

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads_in) {
  IQA_CHECK(roots.size() == grads_in.size(), "backward(): ", roots.size(), " tensors but ", grads_in.size(), " gradients");
  std::vector<Tensor> root_grads;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    IQA_CHECK(root.requires_grad(), "backward() on a tensor that does not require grad: ", root.str());
    Tensor grad = grads_in[i];
    if (!grad.defined()) {
      IQA_CHECK(root.numel() == 1, "backward() without a gradient needs a scalar, got ", root.str());
      grad = Tensor::ones(root.shape(), root.dtype(), root.device());
    }
    IQA_CHECK(grad.shape() == root.shape(), "backward(): gradient shape ", shape_str(grad.shape()),
              " != tensor shape ", shape_str(root.shape()));
    root_grads.push_back(grad);
  }

  NoGradGuard no_grad;
  amp::SuspendGuard no_autocast;  // backward ops keep the dtypes autocast chose in the forward (as PyTorch)
  // Reverse topological order by iterative DFS over tensors that have a grad_fn, from every root in
  // turn (a DFS forest's post-order still lists a node after everything it feeds).
  std::vector<TensorImpl*> order;
  std::unordered_map<TensorImpl*, std::shared_ptr<TensorImpl>> keep;  // keeps nodes alive while we run
  {
    std::unordered_set<TensorImpl*> seen;
    std::vector<std::pair<TensorImpl*, size_t>> stack;
    for (const Tensor& root : roots) {
      TensorImpl* r = root.impl_ptr().get();
      if (!seen.insert(r).second) continue;
      stack.push_back({r, 0});
      keep[r] = root.impl_ptr();
      while (!stack.empty()) {
        auto& [t, next] = stack.back();
        Node* node = t->grad_fn.get();
        if (node && next < node->inputs.size()) {
          const Tensor& in = node->inputs[next++];
          if (in.defined() && in.requires_grad()) {
            TensorImpl* ip = in.impl_ptr().get();
            if (seen.insert(ip).second) {
              keep[ip] = in.impl_ptr();
              stack.push_back({ip, 0});
            }
          }
        } else {
          order.push_back(t);
          stack.pop_back();
        }
      }
    }
  }
  std::unordered_map<TensorImpl*, Tensor> grads;
  for (size_t i = 0; i < roots.size(); ++i) {
    auto& slot = grads[roots[i].impl_ptr().get()];
    slot = accumulate(slot, root_grads[i].detach());
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = *it;
    auto git = grads.find(t);
    if (git == grads.end()) continue;
    Tensor g = git->second;
    grads.erase(git);
    if (!t->grad_fn || t->retains_grad) {
      // Leaf (or retained): accumulate into .grad. A fresh tensor each time, so grads never alias
      // each other (a backward rule may hand the same tensor to two inputs).
      Tensor prev = t->grad ? Tensor(t->grad) : Tensor();
      Tensor acc = prev.defined() ? add(prev, g) : g.clone();
      t->grad = acc.impl_ptr();
      if (t->post_accumulate_grad_hook) t->post_accumulate_grad_hook(*t);
    }
    if (!t->grad_fn) continue;
    Node& node = *t->grad_fn;
    std::vector<Tensor> in_grads = node.backward(g);
    IQA_CHECK(in_grads.size() == node.inputs.size(), "autograd: backward of ", node.name, " returned ",
              in_grads.size(), " gradients for ", node.inputs.size(), " inputs");
    for (size_t i = 0; i < in_grads.size(); ++i) {
      const Tensor& in = node.inputs[i];
      if (!in.defined() || !in.requires_grad() || !in_grads[i].defined()) continue;
      IQA_CHECK(in_grads[i].shape() == in.shape(), "autograd: ", node.name, " produced a gradient of shape ",
                shape_str(in_grads[i].shape()), " for input ", i, " of shape ", shape_str(in.shape()));
      Tensor gi = in_grads[i];
      if (gi.dtype() != in.dtype()) gi = gi.to(in.dtype());
      auto& slot = grads[in.impl_ptr().get()];
      slot = accumulate(slot, gi);
    }
  }
  // Free the graph: drop every node reached (saved tensors go with them), like PyTorch without
  // retain_graph.
  for (TensorImpl* t : order) t->grad_fn = nullptr;
}

}  // namespace iqa
