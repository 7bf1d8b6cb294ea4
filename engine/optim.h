// Optimizers over fp32 parameters (the master weights; CPU or CUDA), with parameter groups that
// carry their own lr and weight decay. Semantics are PyTorch's: torch.optim.SGD, Adam (coupled L2),
// AdamW (decoupled), and AdamP (clovaai/AdamP). The per-element math is in kernels/optim.h. When every
// parameter of a group is a CUDA tensor, SGD/Adam/AdamW update the whole group with multi-tensor
// launches (a few kernels for all tensors) instead of one launch per tensor; the numbers are the same.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace iqa {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct ParamGroup {
  std::vector<Tensor> params;
  double lr = 1e-3;
  double weight_decay = 0;
  // The lr the schedules scale from (PyTorch's "initial_lr"); the optimizer sets it to lr when
  // left at 0.
  double initial_lr = 0;
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; parameters without one are skipped
  // (their state does not advance), as in PyTorch.
  void step();
  // Drops every parameter's .grad (set_to_none, PyTorch's default).
  void zero_grad();

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Parameters of all groups in order; index i is the "state.i." prefix of the state dict.
  std::vector<Tensor> all_params() const;

  // "state.<i>.step" (i64 scalar) and "state.<i>.<buffer>" per parameter that has state, and
  // "param_groups.<g>.lr" / ".initial_lr" (f64 scalars): enough to resume bit-exactly.
  NamedTensors state_dict() const;
  // Replaces the state with `state` (tensors copied to each parameter's device). Throws naming the
  // key on a missing buffer, a wrong shape, or a parameter index/group out of range.
  void load_state_dict(const std::map<std::string, Tensor>& state);

  // Multi-tensor CUDA launches (default on); off runs one kernel per parameter, e.g. to compare the two.
  void set_multi_tensor(bool enabled) { multi_tensor_ = enabled; }
  bool multi_tensor() const { return multi_tensor_; }

  // Step count of parameter i (0 before its first update).
  int64_t step_count(size_t param_index) const;
  // A state buffer of parameter i ("exp_avg", "momentum_buffer", ...); undefined if none yet.
  Tensor state_buffer(size_t param_index, const std::string& name) const;

 protected:
  struct ParamState {
    int64_t step = 0;
    std::map<std::string, Tensor> buffers;
  };
  // Names of the per-parameter state buffers this optimizer keeps (shape of the parameter, f32).
  virtual std::vector<std::string> buffer_names() const = 0;
  // Updates one parameter whose gradient is defined; `state.step` has already been incremented
  // and its buffers exist (zero-filled on the first step).
  virtual void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) = 0;
  // One parameter of a group, ready for update(): state.step incremented, buffers allocated.
  struct PendingUpdate {
    Tensor* param;
    Tensor grad;  // contiguous f32
    ParamState* state;
  };
  // Updates all of a group's parameters that have gradients. The default calls update() on each;
  // optimizers with a multi-tensor kernel override it.
  virtual void update_group(const ParamGroup& group, std::vector<PendingUpdate>& items);
  // Whether the multi-tensor path applies to `items`: enabled, and all on one CUDA device.
  bool use_multi_tensor(const std::vector<PendingUpdate>& items) const;
  virtual const char* name() const = 0;

 private:
  std::vector<ParamGroup> groups_;
  std::vector<ParamState> state_;  // one per parameter, in all_params() order
  bool multi_tensor_ = true;
};

struct SGDOptions {
  double momentum = 0;
  double dampening = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions o = {});

 protected:
  std::vector<std::string> buffer_names() const override;
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) override;
  void update_group(const ParamGroup& group, std::vector<PendingUpdate>& items) override;
  const char* name() const override { return "SGD"; }

 private:
  SGDOptions opts_;
};

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
};

// torch.optim.Adam: weight decay is coupled L2 (added to the gradient).
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions o = {});

 protected:
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) override;
  void update_group(const ParamGroup& group, std::vector<PendingUpdate>& items) override;
  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  AdamOptions opts_;
  bool decoupled_ = false;
};

// torch.optim.AdamW: p *= 1 - lr*wd, then the Adam update without L2 in the gradient.
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamOptions o = {});
};

struct AdamPOptions {
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double delta = 0.1;     // projection threshold: |cos(grad, param)| < delta / sqrt(dim)
  double wd_ratio = 0.1;  // weight decay multiplier when the projection is applied
  bool nesterov = false;
};

// AdamP (Heo et al., ICLR 2021, package `adamp`): for parameters with more than one dim, when the
// gradient is nearly orthogonal to the weight (scale-invariant weights), the radial component is
// removed from the Adam direction and the decoupled weight decay shrinks by wd_ratio. The test is
// tried per output channel (rows of param.view(size(0), -1)) first, then on the whole tensor.
class AdamP : public Optimizer {
 public:
  AdamP(std::vector<ParamGroup> groups, AdamPOptions o = {});
  // Whether the last update of parameter i was projected (for tests and logging; reads the device).
  bool last_projected(size_t param_index) const;

 protected:
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) override;
  const char* name() const override { return "AdamP"; }

 private:
  AdamPOptions opts_;
  std::map<const TensorImpl*, Tensor> projected_;  // u8 0-d flags, on the parameter's device
};

}  // namespace iqa
