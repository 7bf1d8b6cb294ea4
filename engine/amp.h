// Mixed precision. Autocast: a thread-local scope in which layers cast their inputs and weights to a
// low-precision compute dtype (bf16 or f16) on CUDA while the parameters stay fp32 masters; the
// cast is differentiable, so gradients arrive back at the parameters as fp32. GradScaler: dynamic
// loss scaling for fp16 (torch.cuda.amp.GradScaler semantics and defaults).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/optim.h"
#include "engine/tensor.h"

namespace iqa::amp {

// RAII: enables autocast with `dtype` (bf16 or f16) in this thread; restores the previous state.
class AutocastGuard {
 public:
  explicit AutocastGuard(DType dtype = DType::BF16, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_enabled_;
  DType prev_dtype_;
};

bool autocast_enabled();
DType autocast_dtype();
// For matmul-like ops (linear, conv): `t` cast to the autocast dtype when autocast is on and t is a
// floating CUDA tensor of another dtype; otherwise t itself. Undefined tensors pass through.
Tensor autocast(const Tensor& t);
// For ops PyTorch's autocast runs in fp32 (batch norm, losses): bf16/f16 CUDA tensors go up to f32.
Tensor autocast_to_f32(const Tensor& t);

class GradScaler {
 public:
  struct Options {
    double init_scale = 65536.0;
    double growth_factor = 2.0;
    double backoff_factor = 0.5;
    int64_t growth_interval = 2000;
    bool enabled = true;
  };
  GradScaler() : GradScaler(Options{}) {}
  explicit GradScaler(Options o);

  // loss * scale (the loss itself when disabled).
  Tensor scale(const Tensor& loss) const;
  // Divides the gradients of all the optimizer's parameters by the scale, in place, and records
  // whether any was inf/NaN. At most once per step (throws on a second call before update()).
  void unscale_(Optimizer& opt);
  // Unscales if not done yet, then steps the optimizer unless an inf/NaN was found. Returns true
  // when the optimizer stepped.
  bool step(Optimizer& opt);
  // Adjusts the scale: x backoff after a skipped step; x growth after growth_interval good steps.
  void update();

  double get_scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  bool found_inf() const { return found_inf_; }
  bool enabled() const { return opts_.enabled; }

  // "scale" and "growth_tracker" as f64 / i64 scalars, for checkpoints.
  NamedTensors state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state);

 private:
  Options opts_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false;
  bool found_inf_ = false;
};

}  // namespace iqa::amp
