// CUDA build: page-locked host blocks through cudaHostAlloc (see engine/pinned_memory.h).
#include <cuda_runtime.h>

#include <cstdlib>

#include "engine/cuda_runtime.h"
#include "engine/error.h"
#include "engine/pinned_memory.h"

namespace iqa {

HostBlock allocate_host_block(size_t nbytes, bool want_pinned) {
  HostBlock b;
  b.nbytes = nbytes;
  if (want_pinned && cuda::available()) {
    if (cudaHostAlloc(&b.data, nbytes == 0 ? 1 : nbytes, cudaHostAllocPortable) == cudaSuccess) {
      b.pinned = true;
      return b;
    }
    cudaGetLastError();  // page-locking can fail (ulimit -l); fall back to ordinary memory
    b.data = nullptr;
  }
  size_t rounded = (nbytes + 63) / 64 * 64;
  b.data = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  IQA_CHECK(b.data, "allocate_host_block: out of host memory for ", nbytes, " bytes");
  return b;
}

void free_host_block(const HostBlock& block) {
  if (!block.data) return;
  // Called from deleters, so it must not throw: a failing cudaFreeHost (a dead context at process
  // exit) only leaks the block.
  if (block.pinned) {
    if (cudaFreeHost(block.data) != cudaSuccess) cudaGetLastError();
  } else {
    std::free(block.data);
  }
}

}  // namespace iqa
