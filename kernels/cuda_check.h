// One checking macro per CUDA library, each adding file:line. Include only from CUDA-enabled code.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "engine/error.h"

#define IQA_CUDA_CHECK(expr)                                                                   \
  do {                                                                                         \
    cudaError_t iqa_err_ = (expr);                                                             \
    if (iqa_err_ != cudaSuccess)                                                               \
      ::iqa::fail(::iqa::cat(#expr, " failed: ", cudaGetErrorString(iqa_err_), " at ", __FILE__, \
                             ":", __LINE__));                                                  \
  } while (0)

// After a kernel launch: catches bad launch configurations immediately.
#define IQA_CUDA_CHECK_LAUNCH() IQA_CUDA_CHECK(cudaGetLastError())

#define IQA_CUBLAS_CHECK(expr)                                                                       \
  do {                                                                                               \
    auto iqa_st_ = (expr);                                                                           \
    if (int(iqa_st_) != 0)                                                                           \
      ::iqa::fail(::iqa::cat(#expr, " failed with cuBLAS status ", int(iqa_st_), " at ", __FILE__, ":", \
                             __LINE__));                                                             \
  } while (0)

#define IQA_CUDNN_CHECK(expr)                                                                         \
  do {                                                                                                \
    auto iqa_st_ = (expr);                                                                            \
    if (int(iqa_st_) != 0)                                                                            \
      ::iqa::fail(::iqa::cat(#expr, " failed: ", cudnnGetErrorString(iqa_st_), " at ", __FILE__, ":", \
                             __LINE__));                                                              \
  } while (0)

#define IQA_NCCL_CHECK(expr)                                                                         \
  do {                                                                                               \
    auto iqa_st_ = (expr);                                                                           \
    if (int(iqa_st_) != 0)                                                                           \
      ::iqa::fail(::iqa::cat(#expr, " failed: ", ncclGetErrorString(iqa_st_), " at ", __FILE__, ":", \
                             __LINE__));                                                             \
  } while (0)
