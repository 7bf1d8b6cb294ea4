// CUDA caching allocator: freed blocks go to a free list keyed by their rounded size and are handed
// out again instead of calling cudaMalloc, so a training step in steady state never calls cudaMalloc
// (which synchronises the device). Sizes round up to 512 B below 1 MiB and to 2 MiB above, so the
// shapes of one training step land in a handful of size classes.
//
// Frees are not stream-ordered: every op of a thread runs on that thread's one stream, so a block
// freed on the host and reused by the next launch on the same stream is safe by stream order.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>

#include "engine/cuda_runtime.h"
#include "kernels/cuda_check.h"

namespace iqa::cuda {

namespace {

size_t round_size(size_t n) {
  if (n == 0) n = 1;
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSplit = size_t(1) << 20;
  return n < kSplit ? (n + kSmall - 1) / kSmall * kSmall : (n + kLarge - 1) / kLarge * kLarge;
}

struct Allocator {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;      // rounded size -> block
  std::unordered_map<void*, size_t> live_sizes;  // block -> rounded size
  MemoryStats stats;

  void* allocate(size_t n) {
    size_t sz = round_size(n);
    std::lock_guard<std::mutex> lock(mu);
    void* p = nullptr;
    // Best fit among cached blocks, but never a block more than twice the request (waste bound).
    auto it = free_blocks.lower_bound(sz);
    if (it != free_blocks.end() && it->first <= 2 * sz) {
      sz = it->first;
      p = it->second;
      free_blocks.erase(it);
    } else {
      cudaError_t e = cudaMalloc(&p, sz);
      if (e == cudaErrorMemoryAllocation) {  // out of memory: give the cache back and retry once
        cudaGetLastError();
        release_cached_locked();
        e = cudaMalloc(&p, sz);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        fail(cat("cudaMalloc of ", sz, " bytes failed: ", cudaGetErrorString(e), " (allocated ",
                 stats.allocated, " B, reserved ", stats.reserved, " B)"));
      }
      stats.reserved += sz;
      stats.num_device_mallocs += 1;
    }
    live_sizes[p] = sz;
    stats.allocated += sz;
    if (stats.allocated > stats.peak_allocated) stats.peak_allocated = stats.allocated;
    return p;
  }

  void deallocate(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu);
    auto it = live_sizes.find(p);
    if (it == live_sizes.end()) return;  // not ours; ignore rather than crash in a destructor
    stats.allocated -= it->second;
    free_blocks.emplace(it->second, p);
    live_sizes.erase(it);
  }

  void release_cached_locked() {
    cudaDeviceSynchronize();
    for (auto& [sz, p] : free_blocks) {
      cudaFree(p);
      stats.reserved -= sz;
    }
    free_blocks.clear();
  }
};

Allocator& allocator() {
  static Allocator* a = new Allocator();  // leaked on purpose: tensors may die after static teardown
  return *a;
}

}  // namespace

void* allocate(size_t nbytes) { return allocator().allocate(nbytes); }
void deallocate(void* p) { allocator().deallocate(p); }
MemoryStats memory_stats() {
  std::lock_guard<std::mutex> lock(allocator().mu);
  return allocator().stats;
}
void reset_peak_memory_stats() {
  std::lock_guard<std::mutex> lock(allocator().mu);
  allocator().stats.peak_allocated = allocator().stats.allocated;
}
void empty_cache() {
  std::lock_guard<std::mutex> lock(allocator().mu);
  allocator().release_cached_locked();
}

}  // namespace iqa::cuda
