// View rendering on CUDA (kernels/views.h): one thread per output pixel, all three channels.
//
// Why per pixel: a view keeps 224 x 224 pixels of a resize that may be 672 x 1000 or larger, so
// resampling only what is kept beats materialising the resize (the global view keeps 77% of a 256^2
// resize, the mosaic about 11% of a 672-short-side one). Each thread evaluates PIL's separable filter
// directly, horizontal taps rounded to 8 bits inside the vertical sum, in Pillow's fixed-point integers:
// the bytes equal the CPU reference's exactly. A warp covers 32 neighbouring output columns of one row,
// so it shares the row taps (broadcast loads) and reads nearby source bytes (L1 hits); at SIND's
// shapes a thread does 5x5 (mosaic) to 9x7 (global, 1024x768 -> 256) taps per channel.
#include <type_traits>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/views.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kBlockX = 32, kBlockY = 8;
constexpr int32_t kHalf = 1 << (kPilPrecisionBits - 1);

struct Normalization {
  float mean[3], stdev[3];
};

__device__ __forceinline__ uint8_t clip_fixed(int32_t acc) {
  if (acc >= (255 << kPilPrecisionBits)) return 255;
  if (acc <= 0) return 0;
  return uint8_t(acc >> kPilPrecisionBits);
}

template <class T>
__device__ __forceinline__ T encode(uint8_t v, float mean, float stdev) {
  if constexpr (std::is_same_v<T, uint8_t>) return v;
  else return from_f32<T>((float(v) / 255.0f - mean) / stdev);  // same f32 steps as the CPU reference
}

template <class T>
__global__ void __launch_bounds__(kBlockX* kBlockY)
    render_views_kernel(const uint8_t* const* __restrict__ images, const int32_t* __restrict__ table, int num_views,
                        int out_h, int out_w, Normalization norm, T* __restrict__ out) {
  const int c = blockIdx.x * kBlockX + threadIdx.x, r = blockIdx.y * kBlockY + threadIdx.y, v = blockIdx.z;
  if (c >= out_w || r >= out_h) return;
  const int32_t* header = table + size_t(v) * kViewHeaderInts;
  const uint8_t* __restrict__ src = images[__ldg(header)];
  const size_t stride = size_t(__ldg(header + 1)) * 3;
  const int32_t* row_taps = table + size_t(num_views) * kViewHeaderInts + (size_t(v) * out_h + r) * 3;
  const int32_t* col_taps =
      table + size_t(num_views) * (kViewHeaderInts + 3 * size_t(out_h)) + (size_t(v) * out_w + c) * 3;
  const int y0 = __ldg(row_taps), ny = __ldg(row_taps + 1);
  const int32_t* wy = table + __ldg(row_taps + 2);
  const int x0 = __ldg(col_taps), nx = __ldg(col_taps + 1);
  const int32_t* wx = table + __ldg(col_taps + 2);

  int32_t vertical[3] = {kHalf, kHalf, kHalf};
  for (int k = 0; k < ny; ++k) {
    const uint8_t* p = src + size_t(y0 + k) * stride + size_t(x0) * 3;
    int32_t horizontal[3] = {kHalf, kHalf, kHalf};
    for (int j = 0; j < nx; ++j) {
      const int32_t w = __ldg(wx + j);
      horizontal[0] += int32_t(__ldg(p + 3 * j + 0)) * w;
      horizontal[1] += int32_t(__ldg(p + 3 * j + 1)) * w;
      horizontal[2] += int32_t(__ldg(p + 3 * j + 2)) * w;
    }
    const int32_t w = __ldg(wy + k);
#pragma unroll
    for (int ch = 0; ch < 3; ++ch) vertical[ch] += int32_t(clip_fixed(horizontal[ch])) * w;
  }
  const size_t plane = size_t(out_h) * out_w;
  T* dst = out + size_t(v) * 3 * plane + size_t(r) * out_w + c;
#pragma unroll
  for (int ch = 0; ch < 3; ++ch) dst[ch * plane] = encode<T>(clip_fixed(vertical[ch]), norm.mean[ch], norm.stdev[ch]);
}

template <class T>
void launch(const ViewBatch& b, const Normalization& norm, void* out, cudaStream_t stream) {
  const dim3 block(kBlockX, kBlockY);
  const dim3 grid(unsigned((b.out_width + kBlockX - 1) / kBlockX), unsigned((b.out_height + kBlockY - 1) / kBlockY),
                  unsigned(b.num_views));
  render_views_kernel<T><<<grid, block, 0, stream>>>(b.images, b.table, b.num_views, b.out_height, b.out_width, norm,
                                                     static_cast<T*>(out));
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void render_views(const ViewBatch& batch, DType out_dtype, const ViewNormalization& norm, void* out,
                  cudaStream_t stream) {
  IQA_CHECK(batch.num_views > 0 && batch.num_views <= 65535 && batch.out_height > 0 && batch.out_width > 0,
            "render_views (cuda): ", batch.num_views, " views of ", batch.out_width, "x", batch.out_height,
            " (1..65535 views)");
  Normalization n;
  for (int c = 0; c < 3; ++c) n.mean[c] = norm.mean[size_t(c)], n.stdev[c] = norm.stdev[size_t(c)];
  switch (out_dtype) {
    case DType::U8: launch<uint8_t>(batch, n, out, stream); break;
    case DType::F32: launch<float>(batch, n, out, stream); break;
    case DType::BF16: launch<__nv_bfloat16>(batch, n, out, stream); break;
    case DType::F16: launch<__half>(batch, n, out, stream); break;
    default: fail(cat("render_views (cuda): output dtype ", dtype_name(out_dtype), " (u8, f32, bf16 or f16)"));
  }
}

}  // namespace iqa::kernels::cuda
