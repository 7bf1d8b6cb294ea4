// CUDA channels-last pooling. The channel is the fastest index of every thread mapping, so a warp
// touches 32 adjacent channels of one pixel (coalesced). Max pool: forward one thread per output
// element; backward one thread per input element that checks the few windows covering it (no
// atomics, deterministic). Global average pool: a block per (image, 32 channels), 8 thread rows
// striding over the pixels, f32 accumulation.
#include <cmath>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/pool.h"
#include "kernels/pool_window.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

template <class T>
__global__ void max_forward_kernel(Pool2dNhwcGeometry g, const T* x, T* y, uint8_t* argmax, int64_t total) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = o % g.c, pix = o / g.c;
    const int64_t ow = pix % g.out_w, oh = (pix / g.out_w) % g.out_h, n = pix / (g.out_w * g.out_h);
    const T* image = x + n * g.h * g.w * g.c + c;
    const MaxPoolTap<float> best = max_pool_window<float>(
        oh, ow, g.h, g.w, g.kernel, g.stride, g.padding,
        [&](int64_t ih, int64_t iw) { return to_f32(image[(ih * g.w + iw) * g.c]); });
    y[o] = from_f32<T>(best.value);
    argmax[o] = uint8_t(best.tap < 0 ? 0 : best.tap);
  }
}

template <class T>
__global__ void max_backward_kernel(Pool2dNhwcGeometry g, const T* dy, const uint8_t* argmax, T* dx, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % g.c, pix = i / g.c;
    const int64_t iw = pix % g.w, ih = (pix / g.w) % g.h, n = pix / (g.w * g.h);
    const PoolWindowRange rh = pool_windows_covering(ih, g.kernel, g.stride, g.padding, g.out_h);
    const PoolWindowRange rw = pool_windows_covering(iw, g.kernel, g.stride, g.padding, g.out_w);
    float acc = 0.f;
    for (int64_t oh = rh.lo; oh < rh.hi; ++oh)
      for (int64_t ow = rw.lo; ow < rw.hi; ++ow) {
        const int64_t tap = (ih - (oh * g.stride - g.padding)) * g.kernel + (iw - (ow * g.stride - g.padding));
        const int64_t o = ((n * g.out_h + oh) * g.out_w + ow) * g.c + c;
        if (int64_t(argmax[o]) == tap) acc += to_f32(dy[o]);
      }
    dx[i] = from_f32<T>(acc);
  }
}

// The global average pool's blocks: 32 adjacent channels (one warp, coalesced) x 8 interleaved pixel rows.
constexpr int kChannelsPerBlock = 32;
constexpr int kRowThreads = 8;

template <class T>
__global__ void global_avg_forward_kernel(Pool2dNhwcGeometry g, const T* x, T* y) {
  __shared__ float partial[kRowThreads][kChannelsPerBlock + 1];
  const int64_t c = int64_t(blockIdx.x) * kChannelsPerBlock + threadIdx.x, n = blockIdx.y;
  const int64_t hw = g.h * g.w;
  float acc = 0.f;
  if (c < g.c)
    for (int64_t p = threadIdx.y; p < hw; p += kRowThreads) acc += to_f32(x[(n * hw + p) * g.c + c]);
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < g.c) {
    float total = 0.f;
    for (int r = 0; r < kRowThreads; ++r) total += partial[r][threadIdx.x];
    y[n * g.c + c] = from_f32<T>(total / float(hw));
  }
}

template <class T>
__global__ void global_avg_backward_kernel(Pool2dNhwcGeometry g, const T* dy, T* dx, int64_t total) {
  const int64_t image = g.h * g.w * g.c;
  const float inv = 1.f / float(g.h * g.w);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = from_f32<T>(to_f32(dy[(i / image) * g.c + i % g.c]) * inv);
}

}  // namespace

void max_pool2d_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x, void* y, uint8_t* argmax,
                             cudaStream_t stream) {
  IQA_CHECK(g.kernel <= kMaxPoolNhwcMaxKernel, "max_pool2d_nhwc: kernel ", g.kernel, " exceeds ",
            kMaxPoolNhwcMaxKernel);
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, max_forward_kernel, g.n * g.out_h * g.out_w * g.c, stream,
                         g, static_cast<const T*>(x), static_cast<T*>(y), argmax);
}

void max_pool2d_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy, const uint8_t* argmax,
                              void* dx, cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, max_backward_kernel, g.n * g.h * g.w * g.c, stream,
                         g, static_cast<const T*>(dy), argmax, static_cast<T*>(dx));
}

void global_avg_pool_nhwc_forward(DType dtype, const Pool2dNhwcGeometry& g, const void* x, void* y,
                                  cudaStream_t stream) {
  if (g.n == 0 || g.c == 0) return;
  IQA_CHECK(g.n <= 65535, "global_avg_pool_nhwc: batch ", g.n, " exceeds the grid's 65535 rows");
  const dim3 grid(unsigned((g.c + kChannelsPerBlock - 1) / kChannelsPerBlock), unsigned(g.n));
  const dim3 block(kChannelsPerBlock, kRowThreads);
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    global_avg_forward_kernel<T><<<grid, block, 0, stream>>>(g, static_cast<const T*>(x), static_cast<T*>(y));
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void global_avg_pool_nhwc_backward(DType dtype, const Pool2dNhwcGeometry& g, const void* dy, void* dx,
                                   cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, global_avg_backward_kernel, g.n * g.h * g.w * g.c, stream,
                         g, static_cast<const T*>(dy), static_cast<T*>(dx));
}

}  // namespace iqa::kernels::cuda
