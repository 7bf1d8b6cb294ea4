// Shared vocabulary of the kernel layer: dtypes, host-side bf16/f16 conversion, the stream type.
// Kernels see raw pointers + sizes + strides + a stream; nothing here knows about Tensor.
#pragma once
#include <cstdint>
#include <cstring>
#include <cstddef>

// Same declaration as CUDA's, so CPU-only translation units can name a stream without cuda_runtime.h.
struct CUstream_st;
typedef CUstream_st* cudaStream_t;

#if defined(__CUDACC__)
#define IQA_HD __host__ __device__ __forceinline__
#else
#define IQA_HD inline
#endif

namespace iqa {

enum class DType : uint8_t { F32, F64, BF16, F16, I32, I64, U8 };

inline constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}
inline constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "?";
}
inline constexpr bool is_floating(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::BF16 || t == DType::F16;
}

// Most kernels take at most this many dimensions (broadcast/strided indexing).
inline constexpr int kMaxDims = 8;

// ---- bf16 / f16 <-> f32 on the host (bit-exact with CUDA's __float2bfloat16_rn / __float2half_rn) ----
inline float bf16_bits_to_float(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t float_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                         // round to nearest even
  return uint16_t(u >> 16);
}
float f16_bits_to_float(uint16_t h);
uint16_t float_to_f16_bits(float f);

}  // namespace iqa
