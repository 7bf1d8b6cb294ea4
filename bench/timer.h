// Timing for iqa-bench: the median of many repetitions after warm-up.
// CUDA: a cudaEvent pair around each repetition on the current stream. Before each repetition a
// 256 MiB buffer is zeroed, which (a) evicts the operands from the 50 MB L2, so the numbers are DRAM
// numbers, and (b) keeps the GPU busy while the host enqueues the op, so host dispatch cost does not
// show up as idle GPU time inside the measured interval. bench/torch_peer.py does the same.
// CPU: steady_clock around each repetition.
#pragma once
#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "engine/cuda_runtime.h"
#include "engine/device.h"
#include "engine/tensor.h"

#ifdef IQA_WITH_CUDA
#include "kernels/cuda_check.h"
#endif

namespace iqa::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Milliseconds of each timed repetition of `op` on `device`.
inline std::vector<double> time_reps(Device device, int warmup, int reps, const std::function<void()>& op) {
  std::vector<double> ms;
  ms.reserve(size_t(reps));
  if (device.is_cpu()) {
    for (int i = 0; i < warmup; ++i) op();
    for (int i = 0; i < reps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      op();
      auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    return ms;
  }
#ifdef IQA_WITH_CUDA
  // Not static: freed (back to the caching allocator) before CUDA shuts down at exit.
  Tensor l2_flush = Tensor::empty({256ll << 20}, DType::U8, device);
  cudaStream_t stream = cuda::current_stream();
  for (int i = 0; i < warmup; ++i) op();
  const size_t n = size_t(reps);
  std::vector<cudaEvent_t> start(n, nullptr), stop(n, nullptr);
  for (int i = 0; i < reps; ++i) {
    IQA_CUDA_CHECK(cudaEventCreate(&start[size_t(i)]));
    IQA_CUDA_CHECK(cudaEventCreate(&stop[size_t(i)]));
  }
  for (int i = 0; i < reps; ++i) {
    l2_flush.zero_();
    IQA_CUDA_CHECK(cudaEventRecord(start[size_t(i)], stream));
    op();
    IQA_CUDA_CHECK(cudaEventRecord(stop[size_t(i)], stream));
  }
  IQA_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int i = 0; i < reps; ++i) {
    float t = 0;
    IQA_CUDA_CHECK(cudaEventElapsedTime(&t, start[size_t(i)], stop[size_t(i)]));
    ms.push_back(double(t));
    cudaEventDestroy(start[size_t(i)]);
    cudaEventDestroy(stop[size_t(i)]);
  }
  return ms;
#else
  (void)warmup;
  (void)reps;
  (void)op;
  fail("iqa-bench: --device cuda needs a build with CUDA (IQA_CUDA=ON)");
#endif
}

}  // namespace iqa::bench
