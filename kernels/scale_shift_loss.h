// SIND's robust scale-and-shift-invariant loss (shared/spec/sind.md §2), over a whole batch at once.
//
// The batch is split into groups by scene id. Per group of n elements, prediction and MOS are each
// normalised with robust statistics: shift t = the lower median (torch.median: sorted[(n-1)/2]), scale
// s = mean |x - t|, x̂ = (x - t) / (s + eps). The group's loss is mean |p̂ - ĝ|; the batch loss is the
// mean of the group losses over the scenes present.
//
// Gradients are PyTorch autograd's for that computation, nothing detached. One subtlety: torch.median
// without a dim backpropagates with evenly_distribute_backward, i.e. the median's gradient is shared
// equally by every element equal to the median value (one element when there are no ties). abs and the
// L1 use sign(0) = 0. With r tied median elements M, C = sum c, H = sum c x̂ and c_i = dL/dx̂_i:
//   ds/dx_j  = (sign(d_j) - [j in M] * sum_k sign(d_k) / r) / n
//   dL/dx_j  = (c_j - [j in M] * C / r) / S - (H / S) * ds/dx_j,       S = s + eps, d = x - t.
// For the prediction c_i = sign(p̂_i - ĝ_i) / n, for the MOS c_i = -sign(p̂_i - ĝ_i) / n.
//
// SceneLossNorm::None is the same launch without the normalisation (x̂ = x): the per-scene raw L1 of
// SIND's "without alignment" baseline (--loss_type l1 with scene sampling, sind.md §2), and with a
// single scene id the plain L1 of the whole batch. Its gradient is c_i / (number of scenes).
#pragma once
#include "kernels/common.h"

namespace iqa::kernels {

enum class SceneLossNorm { RobustScaleShift, None };

namespace cpu {
// pred, mos: n values of `dtype` (f32 or f64); scene_ids: n i64. Writes the loss to loss[0] (dtype).
// grad_pred / grad_mos (n values of dtype each), when not null, receive dLoss/dpred and dLoss/dmos for
// an upstream gradient of 1. Computes in f64.
void scale_shift_loss(DType dtype, const void* pred, const void* mos, const int64_t* scene_ids, int64_t n,
                      double eps, void* loss, void* grad_pred, void* grad_mos,
                      SceneLossNorm norm = SceneLossNorm::RobustScaleShift);
}  // namespace cpu

namespace cuda {
// Bytes of scratch the CUDA kernel needs for a batch of n (global memory, no initialisation needed).
size_t scale_shift_loss_workspace_bytes(int64_t n);
// Same contract as the CPU version for dtype f32/bf16/f16 (computing in f32), in a single launch of one
// block; all pointers on the device.
void scale_shift_loss(DType dtype, const void* pred, const void* mos, const int64_t* scene_ids, int64_t n,
                      double eps, void* loss, void* grad_pred, void* grad_mos, void* workspace,
                      cudaStream_t stream, SceneLossNorm norm = SceneLossNorm::RobustScaleShift);
}  // namespace cuda

}  // namespace iqa::kernels
