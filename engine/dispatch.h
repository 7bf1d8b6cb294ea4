// Small helpers shared by the op files: device checks and the CPU/CUDA branch.
#pragma once
#include <vector>

#include "engine/cuda_runtime.h"
#include "engine/tensor.h"

namespace iqa {

// All defined tensors on one device; names the op and the offenders otherwise.
inline void check_same_device(const char* op, const std::vector<Tensor>& ts) {
  const Tensor* first = nullptr;
  for (const auto& t : ts) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    else IQA_CHECK(t.device() == first->device(), op, ": tensors on different devices: ", first->str(), " and ", t.str());
  }
}

// Floating dtype the backend computes in: f32/f64 on CPU; f32/bf16/f16 on CUDA.
inline void check_compute_dtype(const char* op, const Tensor& t) {
  if (t.device().is_cpu())
    IQA_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, op, ": the CPU backend computes in f32/f64, got ",
              t.str(), " (cast first)");
  else
    IQA_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16 || t.dtype() == DType::F16, op,
              ": the CUDA backend computes in f32/bf16/f16, got ", t.str());
}

inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  IQA_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch ", a.str(), " vs ", b.str());
}

#ifdef IQA_WITH_CUDA
#define IQA_ON_CUDA(...) __VA_ARGS__
#else
#define IQA_ON_CUDA(...) ::iqa::fail("CUDA tensor in a build without CUDA")
#endif

}  // namespace iqa
