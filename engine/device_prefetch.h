// Double-buffered host-to-device batch prefetcher: the copy of batch k+1 runs on its own stream while
// the compute stream works on batch k. A batch is a list of CPU tensors (images, scores, ids, ...).
// On CUDA each tensor goes through a page-locked staging block (engine/pinned_memory.h), so the copy is
// a DMA that does not block the host; events order the copy after the compute work queued before
// push() (device memory recycled by the caching allocator is not overwritten early) and the compute
// stream after the copy (pop() makes the current stream wait, on the device). Nothing waits on the
// host except push() on the copy of two batches earlier, before it refills that slot's staging.
// On the CPU push/pop are a plain FIFO pass-through.
//
// Epoch loop:            prefetch.push(load(0));
//                        for k: batch = *prefetch.pop(); if (k + 1 < n) prefetch.push(load(k + 1)); step(batch);
// (pop, then push, then queue the step: the copy of k+1 overlaps step k.)
#pragma once
#include <array>
#include <optional>
#include <vector>

#include "engine/cuda_runtime.h"
#include "engine/pinned_memory.h"
#include "engine/tensor.h"

namespace iqa {

class DevicePrefetcher {
 public:
  explicit DevicePrefetcher(Device device);
  ~DevicePrefetcher();
  DevicePrefetcher(const DevicePrefetcher&) = delete;
  DevicePrefetcher& operator=(const DevicePrefetcher&) = delete;

  // Starts moving `host_batch` (CPU tensors, any layout) to the device and returns. At most two batches
  // are pending; a third push before a pop throws. page_locked[i] (optional) says tensor i is contiguous
  // in page-locked memory (the loader's batches): it is copied from where it lies, with no staging copy
  // on the host, and kept alive until its copy is done.
  void push(const std::vector<Tensor>& host_batch, const std::vector<bool>& page_locked = {});
  // The oldest pushed batch, contiguous on the device and safe to use on the current stream; nullopt
  // when none is pending.
  std::optional<std::vector<Tensor>> pop();
  size_t pending() const { return count_; }
  Device device() const { return device_; }

 private:
  struct Slot {
    std::vector<Tensor> tensors;
    std::vector<Tensor> sources;            // CUDA: page-locked host tensors read by the pending copy
    std::vector<HostBlock> staging;         // CUDA: one page-locked block per tensor, reused
    cuda::CopyEvent* copied = nullptr;      // CUDA: recorded on the copy stream after the batch's copies
    bool copy_recorded = false;
  };
  void stage_on_cuda(Slot& slot, const std::vector<Tensor>& host_batch, const std::vector<bool>& page_locked);

  Device device_;
  std::array<Slot, 2> slots_;
  size_t head_ = 0, count_ = 0;
  cudaStream_t copy_stream_ = nullptr;
  cuda::CopyEvent* compute_ready_ = nullptr;  // recorded on the compute stream at each push
};

}  // namespace iqa
