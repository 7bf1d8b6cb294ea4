// The unary ops and their derivatives as f32 device functions (kernels/cuda/elementwise.cu).
// Same formulas as the CPU reference in kernels/cpu/elementwise.cpp; `saved` is the input x, or
// the output y for the ops where unary_backward_uses_output(op) says so.
#pragma once
#include <cuda_runtime.h>

#include "kernels/elementwise.h"

namespace iqa::kernels::cuda_detail {

constexpr float kSqrt2OverPiF = 0.7978845608028654f;  // sqrt(2/pi), gelu tanh form
constexpr float kInvSqrt2F = 0.7071067811865476f;
constexpr float kInvSqrt2PiF = 0.3989422804014327f;   // 1/sqrt(2 pi), normal density
constexpr float kGeluCubicF = 0.044715f;
constexpr float kQuickGeluScaleF = 1.702f;

__device__ __forceinline__ float sigmoid_f32(float x) { return 1.0f / (1.0f + expf(-x)); }

template <UnaryOp OP>
__device__ __forceinline__ float unary_forward_f32(float x, float p0, float p1) {
  if constexpr (OP == UnaryOp::Neg) return -x;
  else if constexpr (OP == UnaryOp::Exp) return expf(x);
  else if constexpr (OP == UnaryOp::Log) return logf(x);
  else if constexpr (OP == UnaryOp::Sqrt) return sqrtf(x);
  else if constexpr (OP == UnaryOp::Rsqrt) return 1.0f / sqrtf(x);  // exact division, not rsqrtf's 2 ulp
  else if constexpr (OP == UnaryOp::Pow) return powf(x, p0);
  else if constexpr (OP == UnaryOp::Abs) return fabsf(x);
  else if constexpr (OP == UnaryOp::Sign) return float((x > 0.0f) - (x < 0.0f));
  else if constexpr (OP == UnaryOp::Clamp) return x != x ? x : fminf(fmaxf(x, p0), p1);
  else if constexpr (OP == UnaryOp::Sigmoid) return sigmoid_f32(x);
  else if constexpr (OP == UnaryOp::Tanh) return tanhf(x);
  else if constexpr (OP == UnaryOp::Relu) return x > 0.0f ? x : 0.0f;
  else if constexpr (OP == UnaryOp::Gelu) return 0.5f * x * (1.0f + erff(x * kInvSqrt2F));
  else if constexpr (OP == UnaryOp::GeluTanh)
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPiF * (x + kGeluCubicF * x * x * x)));
  else return x * sigmoid_f32(kQuickGeluScaleF * x);  // QuickGelu
}

template <UnaryOp OP>
__device__ __forceinline__ float unary_derivative_f32(float s, float p0, float p1) {
  if constexpr (OP == UnaryOp::Neg) return -1.0f;
  else if constexpr (OP == UnaryOp::Exp) return s;                        // s = y
  else if constexpr (OP == UnaryOp::Log) return 1.0f / s;
  else if constexpr (OP == UnaryOp::Sqrt) return 0.5f / s;                // s = y
  else if constexpr (OP == UnaryOp::Rsqrt) return -0.5f * s * s * s;      // s = y
  else if constexpr (OP == UnaryOp::Pow) return p0 == 0.0f ? 0.0f : p0 * powf(s, p0 - 1.0f);
  else if constexpr (OP == UnaryOp::Abs) return float((s > 0.0f) - (s < 0.0f));
  else if constexpr (OP == UnaryOp::Sign) return 0.0f;
  else if constexpr (OP == UnaryOp::Clamp) return (s >= p0 && s <= p1) ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::Sigmoid) return s * (1.0f - s);        // s = y
  else if constexpr (OP == UnaryOp::Tanh) return 1.0f - s * s;            // s = y
  else if constexpr (OP == UnaryOp::Relu) return s > 0.0f ? 1.0f : 0.0f;
  else if constexpr (OP == UnaryOp::Gelu) {
    float cdf = 0.5f * (1.0f + erff(s * kInvSqrt2F));
    return cdf + s * kInvSqrt2PiF * expf(-0.5f * s * s);
  } else if constexpr (OP == UnaryOp::GeluTanh) {
    float t = tanhf(kSqrt2OverPiF * (s + kGeluCubicF * s * s * s));
    float d_inner = kSqrt2OverPiF * (1.0f + 3.0f * kGeluCubicF * s * s);
    return 0.5f * (1.0f + t) + 0.5f * s * (1.0f - t * t) * d_inner;
  } else {  // QuickGelu
    float sg = sigmoid_f32(kQuickGeluScaleF * s);
    return sg + s * kQuickGeluScaleF * sg * (1.0f - sg);
  }
}

}  // namespace iqa::kernels::cuda_detail
