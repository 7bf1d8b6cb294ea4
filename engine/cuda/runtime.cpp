// The CUDA runtime window for CUDA builds: device discovery, copies, the per-thread current stream.
// Memory comes from the caching allocator (caching_allocator.cpp).
#include <cuda_runtime.h>

#include "engine/cuda_runtime.h"
#include "kernels/cuda_check.h"
#include "kernels/index.h"

namespace iqa::cuda {

namespace {
struct Probe {
  int count = 0;
  std::string reason;
};
const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    int n = 0;  // stays 0 if the call fails without writing it (no driver)
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      r.count = 0;
      r.reason = std::string("no usable CUDA device: ") + cudaGetErrorString(e);
      cudaGetLastError();  // clear the sticky error so later calls are not confused
    } else if (n <= 0) {
      r.reason = "no CUDA device found";
    } else {
      r.count = n;
    }
    return r;
  }();
  return p;
}
thread_local cudaStream_t t_stream = nullptr;
thread_local bool t_stream_set = false;
}  // namespace

bool available() { return probe().count > 0; }
std::string unavailable_reason() { return probe().reason; }
int device_count() { return probe().count; }

cudaStream_t current_stream() {
  if (!t_stream_set) {
    // A non-blocking stream per thread: loader threads and the main thread do not serialise on
    // the legacy default stream.
    IQA_CUDA_CHECK(cudaStreamCreateWithFlags(&t_stream, cudaStreamNonBlocking));
    t_stream_set = true;
  }
  return t_stream;
}
void set_current_stream(cudaStream_t s) {
  t_stream = s;
  t_stream_set = true;
}
void synchronize() { IQA_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

cudaStream_t create_stream() {
  cudaStream_t s = nullptr;
  IQA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}
void destroy_stream(cudaStream_t s) {
  if (s && cudaStreamDestroy(s) != cudaSuccess) cudaGetLastError();  // from destructors: never throw
}
CopyEvent* create_event() {
  cudaEvent_t e = nullptr;
  IQA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return reinterpret_cast<CopyEvent*>(e);
}
void destroy_event(CopyEvent* e) {
  if (e && cudaEventDestroy(reinterpret_cast<cudaEvent_t>(e)) != cudaSuccess) cudaGetLastError();
}
void record_event(CopyEvent* e, cudaStream_t s) { IQA_CUDA_CHECK(cudaEventRecord(reinterpret_cast<cudaEvent_t>(e), s)); }
void stream_wait_event(cudaStream_t s, CopyEvent* e) {
  IQA_CUDA_CHECK(cudaStreamWaitEvent(s, reinterpret_cast<cudaEvent_t>(e), 0));
}
void event_synchronize(CopyEvent* e) { IQA_CUDA_CHECK(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(e))); }
void copy_h2d_async(void* dst, const void* src, size_t n, cudaStream_t s) {
  if (n == 0) return;
  IQA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s));
}

void copy_h2d(void* dst, const void* src, size_t n) {
  if (n == 0) return;
  IQA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, current_stream()));
  IQA_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
}
void copy_d2h(void* dst, const void* src, size_t n) {
  if (n == 0) return;
  IQA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, current_stream()));
  // The natural sync where out-of-range indices found on the device are reported (kernels/index.h):
  // reading the fault record is this copy's synchronisation.
  kernels::IndexFault fault;
  kernels::cuda::read_index_fault(&fault, current_stream());
  if (fault.op != kernels::IndexOp::None) fail(kernels::index_fault_message(fault));
}
void copy_d2d(void* dst, const void* src, size_t n) {
  if (n == 0) return;
  IQA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, current_stream()));
}
void memset_zero(void* dst, size_t n) {
  if (n == 0) return;
  IQA_CUDA_CHECK(cudaMemsetAsync(dst, 0, n, current_stream()));
}

}  // namespace iqa::cuda
