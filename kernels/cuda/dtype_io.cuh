// Device-side load/store of any dtype as float (or double), and launch helpers shared by the CUDA
// kernels of this folder.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/common.h"
#include "kernels/cuda_check.h"
#include "kernels/scalar_switch.h"

namespace iqa::kernels::cuda_detail {

// The device's 16-bit float conversions, on the stored bits.
struct DeviceHalf {
  __device__ static float bf16_to_float(uint16_t b) { return __bfloat162float(__ushort_as_bfloat16(b)); }
  __device__ static float f16_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
  __device__ static uint16_t float_to_bf16(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }
  __device__ static uint16_t float_to_f16(float f) { return __half_as_ushort(__float2half_rn(f)); }
};

__device__ __forceinline__ double load_as_double(const void* p, DType t, int64_t i) {
  return load_as_double_via<DeviceHalf>(p, t, i);
}
__device__ __forceinline__ void store_from_double(void* p, DType t, int64_t i, double v) {
  store_from_double_via<DeviceHalf>(p, t, i, v);
}

// Typed conversions for templated hot kernels (T in float, __nv_bfloat16, __half).
template <class T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }
template <class T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }

inline unsigned grid_for(int64_t n, int block) {
  int64_t g = (n + block - 1) / block;
  return unsigned(g < 65535LL * 16 ? g : 65535LL * 16);  // grid-stride loops cover the rest
}

}  // namespace iqa::kernels::cuda_detail

// Calls F<T>() with T the CUDA type of a floating dtype (f32, bf16, f16).
#define IQA_DISPATCH_FLOAT_CUDA(dtype, T, ...)                                   \
  switch (dtype) {                                                               \
    case ::iqa::DType::F32: { using T = float; __VA_ARGS__; break; }             \
    case ::iqa::DType::BF16: { using T = __nv_bfloat16; __VA_ARGS__; break; }    \
    case ::iqa::DType::F16: { using T = __half; __VA_ARGS__; break; }            \
    default: ::iqa::fail(::iqa::cat("CUDA kernel: unsupported dtype ", ::iqa::dtype_name(dtype))); \
  }

// One thread per element, grid-stride: for n > 0 launches KERNEL<T>(args..., n) in blocks of 256 on
// `stream`, T dispatched from dtype by DISPATCH (IQA_DISPATCH_FLOAT_CUDA or a file's own; the args may
// name T), then checks the launch. Written once for the many per-element kernels.
#define IQA_LAUNCH_PER_ELEMENT(DISPATCH, dtype, KERNEL, n, stream, ...)                                     \
  do {                                                                                                     \
    const int64_t iqa_n_ = (n);                                                                            \
    if (iqa_n_ > 0) {                                                                                      \
      DISPATCH(dtype, T, {                                                                                 \
        KERNEL<T><<<::iqa::kernels::cuda_detail::grid_for(iqa_n_, 256), 256, 0, stream>>>(__VA_ARGS__, iqa_n_); \
      });                                                                                                  \
      IQA_CUDA_CHECK_LAUNCH();                                                                             \
    }                                                                                                      \
  } while (0)
