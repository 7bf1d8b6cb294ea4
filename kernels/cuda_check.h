// The checking macros of the CUDA libraries, all from one generator: evaluate the call once, and on a
// non-zero status (every library's success code is 0) throw iqa::Error with the expression, the
// library's own description of the status and file:line. Include only from CUDA-enabled code, after
// the header of the library whose macro it uses (cublas_api.h, cudnn.h, nccl.h).
//
// Under IQA_CUDA_SYNC_CHECK (kernels/sync_check.h) the macros that queue device work (kernel launches,
// cuBLAS, cuDNN) also synchronise and check. Plain runtime calls do not (their errors come back from
// the call itself), nor does NCCL: a rank blocking on the device inside a collective could wait for a
// peer that has not launched its half yet.
#pragma once
#include <cuda_runtime.h>

#include "kernels/error.h"
#include "kernels/sync_check.h"

namespace iqa::detail {

[[noreturn]] inline void cuda_library_failed(const char* expr, const char* description, int status, const char* file,
                                             int line) {
  fail(cat(expr, " failed: ", description, " (status ", status, ") at ", file, ":", line));
}

// Waits for the device after `expr` when IQA_CUDA_SYNC_CHECK is set, and names `expr` if it faulted.
inline void sync_check_after(const char* expr, const char* file, int line) {
  if (!kernels::sync_check_enabled()) return;
  const cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess)
    fail(cat("IQA_CUDA_SYNC_CHECK: device fault after ", expr, ": ", cudaGetErrorString(err), " at ", file, ":", line));
}

}  // namespace iqa::detail

// The generator: `describe` maps the library's status to a string; `sync` says whether the call queues
// device work that IQA_CUDA_SYNC_CHECK should wait for.
#define IQA_LIBRARY_CHECK_(expr, describe, sync)                                                           \
  do {                                                                                                    \
    const auto iqa_status_ = (expr);                                                                      \
    if (int(iqa_status_) != 0)                                                                            \
      ::iqa::detail::cuda_library_failed(#expr, describe(iqa_status_), int(iqa_status_), __FILE__, __LINE__); \
    if (sync) ::iqa::detail::sync_check_after(#expr, __FILE__, __LINE__);                                 \
  } while (0)

#define IQA_CUDA_CHECK(expr) IQA_LIBRARY_CHECK_(expr, cudaGetErrorString, false)
#define IQA_CUBLAS_CHECK(expr) IQA_LIBRARY_CHECK_(expr, cublasGetStatusString, true)
#define IQA_CUDNN_CHECK(expr) IQA_LIBRARY_CHECK_(expr, cudnnGetErrorString, true)
#define IQA_NCCL_CHECK(expr) IQA_LIBRARY_CHECK_(expr, ncclGetErrorString, false)

// After a kernel launch: catches bad launch configurations at once (and, under IQA_CUDA_SYNC_CHECK,
// faults of the kernel itself).
#define IQA_CUDA_CHECK_LAUNCH() IQA_LIBRARY_CHECK_(cudaGetLastError(), cudaGetErrorString, true)
