// Mixed precision. Autocast: a thread-local scope in which ops cast their floating inputs by the
// policy table in engine/amp.cpp, torch.autocast's three lists: matmul-like ops (linear, conv,
// attention) run in the low-precision autocast dtype (bf16 or f16); layer_norm, softmax, losses and
// sums run in f32; elementwise ops and concat promote to their widest input. Parameters stay fp32
// masters and every cast is differentiable, so gradients arrive back at the parameters as fp32.
// GradScaler: dynamic loss scaling for fp16 (torch.cuda.amp.GradScaler semantics and defaults).
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/scoped_flag.h"
#include "engine/optim.h"
#include "engine/tensor.h"

namespace iqa::amp {

// What autocast does to an op's floating inputs (f64 and integer tensors are never cast).
enum class CastPolicy : uint8_t {
  Lower,    // to the autocast dtype: the op runs on tensor cores
  F32,      // to f32: statistics and exponentials that bf16/f16 would round away
  Promote,  // to the widest floating input (one input: its own dtype)
};

// The ops that consult the table, each at its entry point (engine/ops_*.cpp).
enum class Op : uint8_t {
  Matmul, Linear, LinearGelu, LinearQuickGelu, Conv2d, Attention,   // Lower
  LayerNorm, AddLayerNorm, Softmax, LogSoftmax, Sum, Exp, Log, Pow, Rsqrt,  // F32
  L1Loss, MseLoss, SmoothL1Loss, CrossEntropy, CrossEntropySoft,     // F32
  Add, Sub, Mul, Div, Maximum, Minimum, Where, Concat, Mean, Var,    // Promote
  Activation,                                                        // Promote
  kCount
};
CastPolicy cast_policy(Op op);
const char* op_name(Op op);

// RAII: enables autocast with `dtype` (bf16 or f16) for tensors on `device` (torch.autocast's
// device_type) in this thread; restores the previous state. Tensors on other devices are left alone.
// On the CPU, whose kernels compute in f32/f64, the low-precision dtype is emulated: a Lower op
// rounds its inputs to bf16/f16, computes in f32 and rounds its output, so intermediates carry the
// dtypes and (up to f32 accumulation order) the numbers of a CUDA run.
class AutocastGuard {
 public:
  explicit AutocastGuard(DType dtype = DType::BF16, bool enabled = true, DeviceType device = DeviceType::CUDA);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_enabled_;
  DType prev_dtype_;
  DeviceType prev_device_;
};

// RAII: autocast off in this thread until destroyed, as inside an op that has already cast its
// inputs (nested ops run as called) and during backward (gradients keep the forward's dtypes).
class SuspendGuard : ScopedFlag {
 public:
  SuspendGuard();
};

bool autocast_enabled();  // an AutocastGuard is active (suspended or not)
// An op should consult the table: enabled and not suspended. Cheap; ops test it before building
// the argument list for dispatch().
bool autocast_active();
DType autocast_dtype();
DeviceType autocast_device();

// Runs `body` on `inputs` cast by op's policy, with autocast suspended (so `body` may call the public
// op again), and returns its outputs (rounded to the compute dtype when the CPU emulates it).
// Undefined inputs pass through.
using OpBody = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
std::vector<Tensor> dispatch(Op op, const std::vector<Tensor>& inputs, const OpBody& body);
// The same for single-output ops.
Tensor dispatch1(Op op, const std::vector<Tensor>& inputs, const std::function<Tensor(const std::vector<Tensor>&)>& body);

// For callers that cast before an op without a table entry (fused heads, channels-last convolutions):
// `t` cast to the autocast dtype when autocast is on and t is a floating tensor of another dtype on
// the autocast device; otherwise t itself. Undefined tensors pass through.
Tensor autocast(const Tensor& t);
// For ops PyTorch's autocast runs in fp32 (batch norm): bf16/f16 tensors on the autocast device go up to f32.
Tensor autocast_to_f32(const Tensor& t);

// Tests: while set, every dispatch() appends what it did (op, input dtypes before the cast, outputs' dtypes).
struct TraceEntry {
  Op op;
  std::vector<DType> inputs, outputs;
};
void set_trace(std::vector<TraceEntry>* trace);

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
