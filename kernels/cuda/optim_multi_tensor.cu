// Multi-tensor optimizer steps: the updates of all parameters in a few launches instead of one (or
// more) per tensor. ViT-B/16 has ~150 parameter tensors, many of them 768 floats (LayerNorm, biases):
// per-tensor launches are latency bound and leave most of the GPU idle; here one block updates one
// chunk of 64Ki elements of any tensor, so every launch fills the machine.
//
// The tensor list and the block -> (tensor, chunk) map travel in the kernel's by-value argument (the
// constant bank; no host-to-device copy, no allocation, nothing to keep alive after the launch), which
// caps a launch at kMaxTensors tensors and kMaxBlocks blocks; kernels/multi_tensor_plan.h cuts the list
// into launches. The per-element math is kernels/optim_math.h's, the same code the per-tensor kernels run.
#include <array>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/optim_math.h"
#include "kernels/multi_tensor_plan.h"
#include "kernels/optim.h"

namespace iqa::kernels::cuda {

namespace {

constexpr int kMaxTensors = 48;
constexpr int kMaxBlocks = 320;
constexpr int kThreads = 512;
constexpr int64_t kChunkElems = 65536;  // 128 elements per thread: enough work to hide the block's start

// kDepth pointer lists: param, grad, then the state buffers.
template <int kDepth>
struct TensorListArg {
  float* ptr[kDepth][kMaxTensors];
  int64_t numel[kMaxTensors];
  int32_t block_chunk[kMaxBlocks];
  uint8_t block_slot[kMaxBlocks];
};
// Kernel arguments are limited to 4 KiB; leave room for the step arguments.
static_assert(sizeof(TensorListArg<4>) + sizeof(AdamStepArgs) + 16 <= 4096, "multi-tensor argument too large");
static_assert(kMaxTensors <= 256, "block_slot is a byte");

// This block's chunk: pointers advanced to its start, and its length.
template <int kDepth>
__device__ __forceinline__ int64_t block_chunk_of(const TensorListArg<kDepth>& tl, float* (&p)[kDepth]) {
  const int slot = tl.block_slot[blockIdx.x];
  const int64_t start = int64_t(tl.block_chunk[blockIdx.x]) * kChunkElems;
  const int64_t rest = tl.numel[slot] - start;
#pragma unroll
  for (int d = 0; d < kDepth; ++d) p[d] = tl.ptr[d][slot] + start;
  return rest < kChunkElems ? rest : kChunkElems;
}

// kDepth 2: no momentum buffer; 3: with one.
template <int kDepth>
__global__ void __launch_bounds__(kThreads) sgd_multi_kernel(TensorListArg<kDepth> tl, SgdStepArgs a) {
  float* p[kDepth];
  const int64_t n = block_chunk_of(tl, p);
  float* buf = kDepth == 3 ? p[kDepth - 1] : nullptr;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) optim_math::sgd_update(p[0], p[1], buf, i, a);
}

__global__ void __launch_bounds__(kThreads) adam_multi_kernel(TensorListArg<4> tl, AdamStepArgs a) {
  float* p[4];
  const int64_t n = block_chunk_of(tl, p);
  for (int64_t i = threadIdx.x; i < n; i += kThreads) optim_math::adam_update(p[0], p[1], p[2], p[3], i, a);
}

// Plans the launches over `lists` (kDepth pointer lists of equal length) and calls launch(arg, blocks)
// for each.
template <int kDepth, class Launch>
void for_each_launch(const char* who, const std::array<std::vector<float*>, kDepth>& lists,
                     const std::vector<int64_t>& numels, Launch&& launch) {
  for (int d = 0; d < kDepth; ++d) {
    IQA_CHECK(lists[d].size() == numels.size(), who, ": pointer list ", d, " has ", lists[d].size(),
              " entries for ", numels.size(), " tensors");
    for (size_t i = 0; i < numels.size(); ++i)
      IQA_CHECK(lists[d][i] != nullptr || numels[i] == 0, who, ": null pointer in list ", d, " for tensor ", i);
  }
  for (const MultiTensorLaunchPlan& plan : plan_multi_tensor_launches(numels, kChunkElems, kMaxTensors, kMaxBlocks)) {
    TensorListArg<kDepth> tl{};
    for (size_t s = 0; s < plan.tensors.size(); ++s) {
      const size_t t = size_t(plan.tensors[s]);
      for (int d = 0; d < kDepth; ++d) tl.ptr[d][s] = lists[d][t];
      tl.numel[s] = numels[t];
    }
    for (size_t b = 0; b < plan.block_slot.size(); ++b) {
      IQA_CHECK(plan.block_chunk[b] <= INT32_MAX, who, ": tensor too large for the chunk index");
      tl.block_slot[b] = uint8_t(plan.block_slot[b]);
      tl.block_chunk[b] = int32_t(plan.block_chunk[b]);
    }
    launch(tl, unsigned(plan.block_slot.size()));
    IQA_CUDA_CHECK_LAUNCH();
  }
}

// The kernels never write through the gradient list; it shares the pointer type of the others.
std::vector<float*> mutable_list(const std::vector<const float*>& v) {
  std::vector<float*> out;
  out.reserve(v.size());
  for (const float* p : v) out.push_back(const_cast<float*>(p));
  return out;
}

}  // namespace

void multi_tensor_sgd_step(const MultiTensorRefs& t, const SgdStepArgs& a, cudaStream_t stream) {
  if (a.momentum != 0) {
    std::array<std::vector<float*>, 3> lists{t.params, mutable_list(t.grads), t.state1};
    for_each_launch<3>("cuda::multi_tensor_sgd_step", lists, t.numels, [&](const TensorListArg<3>& tl, unsigned blocks) {
      sgd_multi_kernel<3><<<blocks, kThreads, 0, stream>>>(tl, a);
    });
  } else {
    std::array<std::vector<float*>, 2> lists{t.params, mutable_list(t.grads)};
    for_each_launch<2>("cuda::multi_tensor_sgd_step", lists, t.numels, [&](const TensorListArg<2>& tl, unsigned blocks) {
      sgd_multi_kernel<2><<<blocks, kThreads, 0, stream>>>(tl, a);
    });
  }
}

void multi_tensor_adam_step(const MultiTensorRefs& t, const AdamStepArgs& a, cudaStream_t stream) {
  std::array<std::vector<float*>, 4> lists{t.params, mutable_list(t.grads), t.state1, t.state2};
  for_each_launch<4>("cuda::multi_tensor_adam_step", lists, t.numels, [&](const TensorListArg<4>& tl, unsigned blocks) {
    adam_multi_kernel<<<blocks, kThreads, 0, stream>>>(tl, a);
  });
}

}  // namespace iqa::kernels::cuda
