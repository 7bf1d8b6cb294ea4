// Elementwise kernels: binary ops with broadcasting (strided inputs, contiguous output) and unary
// ops on contiguous buffers, forward and backward.
#pragma once
#include <type_traits>

#include "kernels/common.h"

namespace iqa::kernels {

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Max, Min, Gt, Lt, Eq };

// Output is contiguous with `shape`; a and b are read through their own strides (0 = broadcast).
struct BroadcastLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t a_strides[kMaxDims] = {};
  int64_t b_strides[kMaxDims] = {};
};

// where(cond, a, b): three strided inputs, contiguous output with `shape`.
struct WhereLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t cond_strides[kMaxDims] = {};
  int64_t a_strides[kMaxDims] = {};
  int64_t b_strides[kMaxDims] = {};
};

// Unary ops on contiguous buffers. Parameters: Pow p0 = exponent; Clamp p0 = lo, p1 = hi
// (-inf / +inf when absent). Gelu is the erf form, GeluTanh PyTorch's tanh approximation,
// QuickGelu x * sigmoid(1.702 x).
enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Sqrt, Rsqrt, Pow, Abs, Sign, Clamp, Sigmoid, Tanh, Relu, Gelu, GeluTanh, QuickGelu
};

// Which tensor a backward reads: the forward's input x, or its output y where the derivative is
// cheaper from y (exp: y; sqrt: 1/(2y); rsqrt: -y^3/2; sigmoid: y(1-y); tanh: 1-y^2).
inline constexpr bool unary_backward_uses_output(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::Sigmoid ||
         op == UnaryOp::Tanh;
}

// Calls f(std::integral_constant<UnaryOp, op>): the op becomes a compile-time constant, so each op gets
// its own loop (CPU) or kernel (CUDA) with the switch folded away.
template <class F>
void with_unary_op(UnaryOp op, F&& f) {
  switch (op) {
#define IQA_UNARY_CASE(name) \
    case UnaryOp::name: f(std::integral_constant<UnaryOp, UnaryOp::name>{}); break;
    IQA_UNARY_CASE(Neg) IQA_UNARY_CASE(Exp) IQA_UNARY_CASE(Log) IQA_UNARY_CASE(Sqrt) IQA_UNARY_CASE(Rsqrt)
    IQA_UNARY_CASE(Pow) IQA_UNARY_CASE(Abs) IQA_UNARY_CASE(Sign) IQA_UNARY_CASE(Clamp) IQA_UNARY_CASE(Sigmoid)
    IQA_UNARY_CASE(Tanh) IQA_UNARY_CASE(Relu) IQA_UNARY_CASE(Gelu) IQA_UNARY_CASE(GeluTanh) IQA_UNARY_CASE(QuickGelu)
#undef IQA_UNARY_CASE
  }
}

namespace cpu {
// a, b and out share `dtype` (f32 or f64), except comparisons whose out is u8.
void binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out, const BroadcastLayout& layout,
            int64_t n);
// out = op(x), n contiguous elements, f32 or f64.
void unary(UnaryOp op, DType dtype, const void* x, void* out, int64_t n, double p0 = 0, double p1 = 0);
// grad_in = grad_out * op'(x); `saved` is x, or y = op(x) when unary_backward_uses_output(op).
void unary_backward(UnaryOp op, DType dtype, const void* saved, const void* grad_out, void* grad_in, int64_t n,
                    double p0 = 0, double p1 = 0);
// out = cond ? a : b, cond u8; a, b, out share `dtype` (any dtype: only bytes are moved).
void where(DType dtype, const uint8_t* cond, const void* a, const void* b, void* out, const WhereLayout& layout,
           int64_t n);
}  // namespace cpu

namespace cuda {
void binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out, const BroadcastLayout& layout,
            int64_t n, cudaStream_t stream);
// f32, bf16, f16 (computed in f32).
void unary(UnaryOp op, DType dtype, const void* x, void* out, int64_t n, double p0, double p1, cudaStream_t stream);
void unary_backward(UnaryOp op, DType dtype, const void* saved, const void* grad_out, void* grad_in, int64_t n,
                    double p0, double p1, cudaStream_t stream);
void where(DType dtype, const uint8_t* cond, const void* a, const void* b, void* out, const WhereLayout& layout,
           int64_t n, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
