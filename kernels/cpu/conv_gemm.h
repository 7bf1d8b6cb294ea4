// What the two CPU convolutions (kernels/cpu/conv.cpp, NCHW; kernels/cpu/conv_nhwc.cpp, NHWC) share:
// both are im2col + a grouped GEMM per image, so the group sizes and the weight-gradient product's
// output side (dW_g [cog, kg], images accumulating through beta) are the same; only the operands'
// memory order differs.
#pragma once
#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace iqa::kernels::cpu {

struct ConvGroupSizes {
  int64_t kg, cog, out_hw;  // taps per group (c_in/groups * kh * kw), output channels per group, pixels
  explicit ConvGroupSizes(const Conv2dGeometry& g)
      : kg(g.c_in_per_group() * g.kh * g.kw), cog(g.c_out_per_group()), out_hw(g.out_h * g.out_w) {}
};

// The dW GEMM of one image with its C side filled in; the caller sets k and the A / B operands so that
// op(A) op(B) is dY_g^T cols_g in its layout. The first image overwrites dW, the others add to it.
inline GemmArgs weight_grad_gemm(const Conv2dGeometry& g, const ConvGroupSizes& s, void* dw, bool first_image,
                                 DType dtype) {
  GemmArgs a;
  a.m = s.cog, a.n = s.kg;
  a.c = dw, a.ldc = s.kg, a.stride_c = s.cog * s.kg;
  a.batch = g.groups;
  a.beta = first_image ? 0.f : 1.f;
  a.dtype = dtype;
  return a;
}

// dW of an empty batch is zero (no GEMM runs to write it). Returns whether it was.
template <class T>
bool zero_weight_grad_if_no_images(const Conv2dGeometry& g, const ConvGroupSizes& s, T* dw) {
  if (g.n != 0) return false;
  for (int64_t i = 0; i < g.c_out * s.kg; ++i) dw[i] = T(0);
  return true;
}

}  // namespace iqa::kernels::cpu
