// Host staging memory for batches on their way to the GPU. Page-locked (cudaHostAlloc) when the build
// has CUDA and a device is usable, because the driver copies from page-locked memory directly (DMA)
// and asynchronously, instead of through its own bounce buffer; 64-byte-aligned ordinary memory
// otherwise (CPU-only builds, machines without a GPU, or when page-locking fails).
#pragma once
#include <cstddef>

namespace iqa {

struct HostBlock {
  void* data = nullptr;
  size_t nbytes = 0;
  bool pinned = false;  // how it was allocated, so free_host_block releases it the same way
};

// want_pinned = false always gives ordinary aligned memory. Throws iqa::Error when out of memory.
HostBlock allocate_host_block(size_t nbytes, bool want_pinned);
void free_host_block(const HostBlock& block);

}  // namespace iqa
