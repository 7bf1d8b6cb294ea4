// SIND's LocalGlobal fusion head (shared/spec/sind.md §1.2): q = W·[g ; mean_t(T)] + b, with g the
// global view's projected CLS [B, G] and T the local view's patch tokens [B, N, D]; W is [1, G + D].
// Forward writes q [B] and the token means [B, D] (saved for the backward, so it need not re-read the
// tokens). Backward writes all four gradients; the weight and bias gradients are sums over the batch
// taken in a fixed order (deterministic).
#pragma once
#include <algorithm>
#include <cstddef>

#include "kernels/common.h"

namespace iqa::kernels {

struct FusionHeadShape {
  int64_t batch = 0;   // B
  int64_t global = 0;  // G (512)
  int64_t tokens = 0;  // N (196)
  int64_t width = 0;   // D (768)
};

namespace cpu {
// All tensors contiguous, dtype f32 or f64; token_mean has the same dtype.
void fusion_head_forward(DType dtype, const FusionHeadShape& s, const void* global_cls, const void* local_tokens,
                         const void* weight, const void* bias, void* out, void* token_mean);
// grad_out [B]; writes grad_global [B, G], grad_tokens [B, N, D], grad_weight [G + D], grad_bias [1].
void fusion_head_backward(DType dtype, const FusionHeadShape& s, const void* grad_out, const void* global_cls,
                          const void* token_mean, const void* weight, void* grad_global, void* grad_tokens,
                          void* grad_weight, void* grad_bias);
}  // namespace cpu

namespace cuda {
// The CUDA forward's block shape, as host logic so CPU tests check it. `lanes` threads own `pack`-wide
// column packs of the [N, D] token slab and `slices` groups of them split the token rows; the
// [slices][D] f32 partials must fit 48 KiB of shared memory. The block is lanes * slices threads
// rounded up to whole warps, because the block reduction shuffles with a full mask; the threads past
// lanes * slices read no tokens and only join the reduction.
struct FusionHeadForwardLaunch {
  int lanes = 1, slices = 1, threads = 32;
  size_t smem_bytes = 0;
};
inline FusionHeadForwardLaunch fusion_head_forward_launch(const FusionHeadShape& s, int pack) {
  const int64_t packs = std::max<int64_t>(s.width / pack, 1);
  FusionHeadForwardLaunch l;
  // Enough slices to fill ~512 threads, but no more than there are tokens, nor than the partials fit.
  l.slices = int(std::min<int64_t>({std::max<int64_t>(1, 512 / packs), std::max<int64_t>(s.tokens, 1),
                                    std::max<int64_t>(1, (48 << 10) / (4 * std::max<int64_t>(s.width, 1)))}));
  l.lanes = int(std::min<int64_t>(packs, 1024 / l.slices));
  l.threads = (l.lanes * l.slices + 31) / 32 * 32;  // lanes * slices <= 1024, so this stays <= 1024
  l.smem_bytes = size_t(l.slices) * size_t(s.width) * sizeof(float);
  return l;
}

// dtype f32/bf16/f16 for every tensor except token_mean, which is f32. One launch each.
void fusion_head_forward(DType dtype, const FusionHeadShape& s, const void* global_cls, const void* local_tokens,
                         const void* weight, const void* bias, void* out, float* token_mean, cudaStream_t stream);
void fusion_head_backward(DType dtype, const FusionHeadShape& s, const void* grad_out, const void* global_cls,
                          const float* token_mean, const void* weight, void* grad_global, void* grad_tokens,
                          void* grad_weight, void* grad_bias, cudaStream_t stream);
}  // namespace cuda

}  // namespace iqa::kernels
