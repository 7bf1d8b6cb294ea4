// Autocast (engine/amp.h): the per-op cast policy and the dispatch the ops call at their entry.
#include "engine/amp.h"

#include <array>

namespace iqa::amp {

namespace {
thread_local bool t_enabled = false;
thread_local bool t_suspended = false;
thread_local DType t_dtype = DType::BF16;
thread_local DeviceType t_device = DeviceType::CUDA;
thread_local std::vector<TraceEntry>* t_trace = nullptr;

// torch.autocast's policy, op by op (PyTorch's lower_precision_fp / fp32 / promote lists for CUDA):
//   Lower   matmul, bmm, linear (+ fused GELU epilogues), conv2d, scaled_dot_product_attention: the
//           GEMM-shaped work, where bf16/f16 inputs with f32 accumulation lose little and run on
//           tensor cores.
//   F32     layer_norm (and the fused residual add + layer_norm), softmax, log_softmax, sum, exp,
//           log, pow, rsqrt and every loss: means, variances, exponentials and long sums, whose bf16
//           rounding would bias the statistics. An f32 output is what keeps the residual stream of
//           a pre-LN transformer in f32: the stream is the output of add_layer_norm's sum, or of an
//           add of an f32 stream and a low-precision branch.
//   Promote add, sub, mul, div, maximum, minimum, where, concat, and the ops PyTorch runs in their
//           input's dtype (mean, var, activations): the widest floating input decides, so mixing an
//           f32 tensor with a bf16 one never rounds the f32 one (a class token or positional
//           embedding joining bf16 patch tokens makes the tokens f32, as torch.cat and + do).
// Ops outside the table (views, copies, index_select, gather, batch norm, the SIND head) run in their
// inputs' dtype; layers that need a cast before one of them call autocast() / autocast_to_f32().
struct Entry {
  Op op;
  const char* name;
  CastPolicy policy;
};
constexpr Entry kTable[] = {
    {Op::Matmul, "matmul", CastPolicy::Lower},
    {Op::Linear, "linear", CastPolicy::Lower},
    {Op::LinearGelu, "linear_gelu", CastPolicy::Lower},
    {Op::LinearQuickGelu, "linear_quick_gelu", CastPolicy::Lower},
    {Op::Conv2d, "conv2d", CastPolicy::Lower},
    {Op::Attention, "scaled_dot_product_attention", CastPolicy::Lower},
    {Op::LayerNorm, "layer_norm", CastPolicy::F32},
    {Op::AddLayerNorm, "add_layer_norm", CastPolicy::F32},
    {Op::Softmax, "softmax", CastPolicy::F32},
    {Op::LogSoftmax, "log_softmax", CastPolicy::F32},
    {Op::Sum, "sum", CastPolicy::F32},
    {Op::Exp, "exp", CastPolicy::F32},
    {Op::Log, "log", CastPolicy::F32},
    {Op::Pow, "pow", CastPolicy::F32},
    {Op::Rsqrt, "rsqrt", CastPolicy::F32},
    {Op::L1Loss, "l1_loss", CastPolicy::F32},
    {Op::MseLoss, "mse_loss", CastPolicy::F32},
    {Op::SmoothL1Loss, "smooth_l1_loss", CastPolicy::F32},
    {Op::CrossEntropy, "cross_entropy", CastPolicy::F32},
    {Op::CrossEntropySoft, "cross_entropy_soft", CastPolicy::F32},
    {Op::Add, "add", CastPolicy::Promote},
    {Op::Sub, "sub", CastPolicy::Promote},
    {Op::Mul, "mul", CastPolicy::Promote},
    {Op::Div, "div", CastPolicy::Promote},
    {Op::Maximum, "maximum", CastPolicy::Promote},
    {Op::Minimum, "minimum", CastPolicy::Promote},
    {Op::Where, "where", CastPolicy::Promote},
    {Op::Concat, "concat", CastPolicy::Promote},
    {Op::Mean, "mean", CastPolicy::Promote},
    {Op::Var, "var", CastPolicy::Promote},
    {Op::Activation, "activation", CastPolicy::Promote},
};
static_assert(std::size(kTable) == size_t(Op::kCount), "kTable needs one entry per amp::Op");

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < std::size(kTable); ++i)
    if (size_t(kTable[i].op) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "kTable rows must follow the order of amp::Op");

bool is_half(DType t) { return t == DType::BF16 || t == DType::F16; }
// PyTorch casts f32/bf16/f16 only: f64 stays f64 (exact-gradient checks), integers are indices and masks.
bool eligible(const Tensor& t) { return t.defined() && is_floating(t.dtype()) && t.dtype() != DType::F64; }

// The dtype `op` computes in for these inputs.
DType target_dtype(CastPolicy policy, const std::vector<Tensor>& inputs) {
  if (policy == CastPolicy::Lower) return t_dtype;
  if (policy == CastPolicy::F32) return DType::F32;
  std::optional<DType> widest;
  for (const Tensor& t : inputs) {
    if (!eligible(t)) continue;
    if (!widest || t.dtype() == DType::F32) widest = t.dtype();
    else if (*widest != t.dtype() && *widest != DType::F32) widest = DType::F32;  // bf16 with f16
  }
  return widest.value_or(DType::F32);
}

// The autocast device of the first defined input, if any input is on it.
bool on_autocast_device(const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs)
    if (t.defined()) return t.device().type == t_device;
  return false;
}
}  // namespace

CastPolicy cast_policy(Op op) { return kTable[size_t(op)].policy; }
const char* op_name(Op op) { return kTable[size_t(op)].name; }

AutocastGuard::AutocastGuard(DType dtype, bool enabled, DeviceType device)
    : prev_enabled_(t_enabled), prev_dtype_(t_dtype), prev_device_(t_device) {
  IQA_CHECK(dtype == DType::BF16 || dtype == DType::F16, "autocast: compute dtype must be bf16 or f16, got ",
            dtype_name(dtype));
  t_enabled = enabled;
  t_dtype = dtype;
  t_device = device;
}
AutocastGuard::~AutocastGuard() {
  t_enabled = prev_enabled_;
  t_dtype = prev_dtype_;
  t_device = prev_device_;
}

SuspendGuard::SuspendGuard() : ScopedFlag(t_suspended, true) {}

bool autocast_enabled() { return t_enabled; }
bool autocast_active() { return t_enabled && !t_suspended; }
DType autocast_dtype() { return t_dtype; }
DeviceType autocast_device() { return t_device; }
void set_trace(std::vector<TraceEntry>* trace) { t_trace = trace; }

std::vector<Tensor> dispatch(Op op, const std::vector<Tensor>& inputs, const OpBody& body) {
  SuspendGuard suspended;
  if (!t_enabled || !on_autocast_device(inputs)) return body(inputs);
  const DType target = target_dtype(cast_policy(op), inputs);
  // The CPU kernels compute in f32/f64: a low-precision target is emulated by rounding the inputs to
  // it and computing on their f32 values, then rounding the outputs.
  const bool emulate = t_device == DeviceType::CPU && is_half(target);
  std::vector<Tensor> cast = inputs;
  for (Tensor& t : cast) {
    if (!eligible(t)) continue;
    if (t.dtype() != target) t = t.to(target);
    if (emulate) t = t.to(DType::F32);
  }
  std::vector<Tensor> outs = body(cast);
  if (emulate)
    for (Tensor& t : outs)
      if (t.defined() && t.dtype() == DType::F32) t = t.to(target);
  if (t_trace) {
    TraceEntry e{op, {}, {}};
    for (const Tensor& t : inputs)
      if (t.defined()) e.inputs.push_back(t.dtype());
    for (const Tensor& t : outs)
      if (t.defined()) e.outputs.push_back(t.dtype());
    t_trace->push_back(std::move(e));
  }
  return outs;
}

Tensor dispatch1(Op op, const std::vector<Tensor>& inputs, const std::function<Tensor(const std::vector<Tensor>&)>& body) {
  return dispatch(op, inputs, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{body(in)}; })[0];
}

Tensor autocast(const Tensor& t) {
  if (!t_enabled || !eligible(t) || t.device().type != t_device || t.dtype() == t_dtype) return t;
  return t.to(t_dtype);  // differentiable: the gradient is cast back to t's dtype
}

Tensor autocast_to_f32(const Tensor& t) {
  if (!t_enabled || !t.defined() || t.device().type != t_device || !is_half(t.dtype())) return t;
  return t.to(DType::F32);
}

}  // namespace iqa::amp
