// Exponential moving average of parameters, with torch_ema's semantics (SIND evaluates with it):
// tracks the parameters that require grad; with use_num_updates the decay ramps up as
// min(decay, (1 + n) / (10 + n)) where n counts updates (incremented before use);
// shadow -= (1 - d) * (shadow - param).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace iqa {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class ExponentialMovingAverage {
 public:
  // Shadows start as copies of the current values; parameters without requires_grad are ignored.
  ExponentialMovingAverage(const std::vector<Tensor>& params, double decay = 0.99, bool use_num_updates = true);

  // One EMA step towards the current parameter values (the same parameters, in the same order).
  void update();
  // The decay the next update() will use.
  double next_decay() const;

  // Saves the current parameter values, so copy_to() + restore() evaluates with the averages.
  void store();
  void copy_to();
  void restore();

  // RAII form of store(); copy_to(); ... restore() (torch_ema's average_parameters()).
  class Scope {
   public:
    explicit Scope(ExponentialMovingAverage& ema) : ema_(ema) {
      ema_.store();
      ema_.copy_to();
    }
    ~Scope() { ema_.restore(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ExponentialMovingAverage& ema_;
  };
  Scope average_parameters() { return Scope(*this); }

  const std::vector<Tensor>& shadow() const { return shadow_; }
  int64_t num_updates() const { return num_updates_; }

  // "shadow.<i>" tensors and "num_updates" (i64 scalar) for checkpoints.
  NamedTensors state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state);

 private:
  std::vector<Tensor> params_, shadow_, stored_;
  double decay_;
  bool use_num_updates_;
  int64_t num_updates_ = 0;
};

}  // namespace iqa
