// CPU-only build: the CUDA runtime window reports no GPU and refuses device memory.
#include "engine/cuda_runtime.h"
#include "engine/error.h"

namespace iqa::cuda {
namespace {
[[noreturn]] void no_cuda() { fail("this build of iqa.cu has no CUDA backend (configured with IQA_CUDA=OFF)"); }
}  // namespace
bool available() { return false; }
std::string unavailable_reason() { return "built without CUDA (IQA_CUDA=OFF)"; }
int device_count() { return 0; }
void* allocate(size_t) { no_cuda(); }
void deallocate(void*) {}
MemoryStats memory_stats() { return {}; }
void reset_peak_memory_stats() {}
void empty_cache() {}
void copy_h2d(void*, const void*, size_t) { no_cuda(); }
void copy_d2h(void*, const void*, size_t) { no_cuda(); }
void copy_d2d(void*, const void*, size_t) { no_cuda(); }
void memset_zero(void*, size_t) { no_cuda(); }
cudaStream_t create_stream() { no_cuda(); }
void destroy_stream(cudaStream_t) {}
CopyEvent* create_event() { no_cuda(); }
void destroy_event(CopyEvent*) {}
void record_event(CopyEvent*, cudaStream_t) { no_cuda(); }
void stream_wait_event(cudaStream_t, CopyEvent*) { no_cuda(); }
void event_synchronize(CopyEvent*) { no_cuda(); }
void copy_h2d_async(void*, const void*, size_t, cudaStream_t) { no_cuda(); }
cudaStream_t current_stream() { return nullptr; }
void set_current_stream(cudaStream_t) {}
void synchronize() {}
}  // namespace iqa::cuda
