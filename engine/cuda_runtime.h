// The engine's narrow window onto the CUDA runtime. Declared for every build; a CPU-only build
// (engine/nocuda/) answers "no GPU" and throws if memory is requested. Real versions: engine/cuda/.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common.h"

namespace iqa::cuda {

// True when the build has CUDA and a device can be used. Never throws: a machine without a driver
// makes cudaGetDeviceCount fail, which reads as "no GPU".
bool available();
// Why available() is false, for test skip messages.
std::string unavailable_reason();
int device_count();

// Device memory through the caching allocator (engine/cuda/caching_allocator.cpp).
void* allocate(size_t nbytes);
void deallocate(void* p);

struct MemoryStats {
  size_t allocated = 0;       // bytes handed to tensors now
  size_t peak_allocated = 0;  // high-water mark since the last reset
  size_t reserved = 0;        // bytes held from cudaMalloc (cached + in use)
  size_t num_device_mallocs = 0;
};
MemoryStats memory_stats();
void reset_peak_memory_stats();
void empty_cache();

// Copies. Host-device copies are synchronous with respect to the current stream.
void copy_h2d(void* dst, const void* src, size_t nbytes);
void copy_d2h(void* dst, const void* src, size_t nbytes);
void copy_d2d(void* dst, const void* src, size_t nbytes);
void memset_zero(void* dst, size_t nbytes);

// For overlapping copies with compute (engine/device_prefetch.h): a second stream, events that order
// it against the compute stream without a host wait, and an asynchronous host-to-device copy (truly
// asynchronous only from page-locked memory; the caller keeps `src` alive until the event completes).
struct CopyEvent;  // opaque cudaEvent_t
cudaStream_t create_stream();
void destroy_stream(cudaStream_t s);
CopyEvent* create_event();
void destroy_event(CopyEvent* e);
void record_event(CopyEvent* e, cudaStream_t s);
void stream_wait_event(cudaStream_t s, CopyEvent* e);  // s waits on the device; the host does not
void event_synchronize(CopyEvent* e);                 // the host waits
void copy_h2d_async(void* dst, const void* src, size_t nbytes, cudaStream_t s);

// The stream every op of this thread launches on (default: a per-thread non-default stream).
cudaStream_t current_stream();
void set_current_stream(cudaStream_t s);
void synchronize();

}  // namespace iqa::cuda
