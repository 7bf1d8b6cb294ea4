// How one optimizer step over many tensors is cut into a few kernel launches (the scheme of apex's
// multi_tensor_apply): every tensor is split into chunks of `chunk_elems`; one CUDA block updates one
// chunk; a launch carries at most `max_tensors` tensors and `max_blocks` chunks in its by-value kernel
// argument. A tensor whose chunks do not fit into the current launch continues in the next one (it then
// appears in both, with different chunks). Pure host code, so the CPU tests cover it.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/error.h"

namespace iqa::kernels {

struct MultiTensorLaunchPlan {
  std::vector<int32_t> tensors;      // indices into the caller's tensor list, one per slot
  std::vector<int32_t> block_slot;   // per block: its tensor's slot in `tensors`
  std::vector<int64_t> block_chunk;  // per block: which chunk of that tensor
};

// Empty tensors (numel 0) get no block and no slot.
inline std::vector<MultiTensorLaunchPlan> plan_multi_tensor_launches(const std::vector<int64_t>& numels,
                                                                     int64_t chunk_elems, int max_tensors,
                                                                     int max_blocks) {
  IQA_CHECK(chunk_elems > 0 && max_tensors > 0 && max_blocks > 0, "plan_multi_tensor_launches: chunk ",
            chunk_elems, ", max tensors ", max_tensors, " and max blocks ", max_blocks, " must be positive");
  std::vector<MultiTensorLaunchPlan> plans;
  MultiTensorLaunchPlan cur;
  auto flush = [&] {
    if (!cur.block_slot.empty()) plans.push_back(std::move(cur));
    cur = MultiTensorLaunchPlan{};
  };
  for (size_t i = 0; i < numels.size(); ++i) {
    IQA_CHECK(numels[i] >= 0, "plan_multi_tensor_launches: tensor ", i, " has negative size ", numels[i]);
    const int64_t chunks = (numels[i] + chunk_elems - 1) / chunk_elems;
    for (int64_t c = 0; c < chunks; ++c) {
      const bool has_slot = !cur.tensors.empty() && cur.tensors.back() == int32_t(i);
      if (!has_slot) {
        if (int(cur.tensors.size()) == max_tensors) flush();
        cur.tensors.push_back(int32_t(i));
      }
      cur.block_slot.push_back(int32_t(cur.tensors.size()) - 1);
      cur.block_chunk.push_back(c);
      if (int(cur.block_slot.size()) == max_blocks) flush();
    }
  }
  flush();
  return plans;
}

}  // namespace iqa::kernels
