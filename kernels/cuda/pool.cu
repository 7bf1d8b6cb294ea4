// CUDA pooling. Forward: one thread per output pixel. Backward: one thread per *input* pixel that
// visits the few output windows covering it and sums their gradients, so overlapping windows need no
// atomics and the result is deterministic for every dtype. f32 accumulation throughout.
#include <cmath>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/pool.h"
#include "kernels/pool_window.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

template <class T>
__global__ void max_forward_kernel(Pool2dGeometry g, const T* x, T* y, int64_t* argmax, int64_t total) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    int64_t ow = o % g.out_w, oh = (o / g.out_w) % g.out_h, p = o / (g.out_w * g.out_h);
    const T* plane = x + p * g.h * g.w;
    const MaxPoolTap<float> best = max_pool_window<float>(
        oh, ow, g.h, g.w, g.kernel, g.stride, g.padding,
        [&](int64_t ih, int64_t iw) { return to_f32(plane[ih * g.w + iw]); });
    y[o] = from_f32<T>(best.value);
    argmax[o] = best.tap < 0 ? 0 : best.ih * g.w + best.iw;
  }
}

template <class T>
__global__ void max_backward_kernel(Pool2dGeometry g, const T* dy, const int64_t* argmax, T* dx, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t iw = i % g.w, ih = (i / g.w) % g.h, p = i / (g.w * g.h);
    const PoolWindowRange rh = pool_windows_covering(ih, g.kernel, g.stride, g.padding, g.out_h);
    const PoolWindowRange rw = pool_windows_covering(iw, g.kernel, g.stride, g.padding, g.out_w);
    const int64_t here = ih * g.w + iw, base = p * g.out_h * g.out_w;
    float acc = 0.f;
    for (int64_t oh = rh.lo; oh < rh.hi; ++oh)
      for (int64_t ow = rw.lo; ow < rw.hi; ++ow) {
        int64_t o = base + oh * g.out_w + ow;
        if (argmax[o] == here) acc += to_f32(dy[o]);
      }
    dx[i] = from_f32<T>(acc);
  }
}

template <class T>
__global__ void avg_forward_kernel(Pool2dGeometry g, const T* x, T* y, int64_t total) {
  const float inv_area = 1.f / float(g.kernel * g.kernel);  // count_include_pad
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    int64_t ow = o % g.out_w, oh = (o / g.out_w) % g.out_h, p = o / (g.out_w * g.out_h);
    const T* plane = x + p * g.h * g.w;
    float acc = 0.f;
    for (int64_t i = 0; i < g.kernel; ++i) {
      int64_t ih = oh * g.stride - g.padding + i;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t j = 0; j < g.kernel; ++j) {
        int64_t iw = ow * g.stride - g.padding + j;
        if (iw >= 0 && iw < g.w) acc += to_f32(plane[ih * g.w + iw]);
      }
    }
    y[o] = from_f32<T>(acc * inv_area);
  }
}

template <class T>
__global__ void avg_backward_kernel(Pool2dGeometry g, const T* dy, T* dx, int64_t total) {
  const float inv_area = 1.f / float(g.kernel * g.kernel);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t iw = i % g.w, ih = (i / g.w) % g.h, p = i / (g.w * g.h);
    const PoolWindowRange rh = pool_windows_covering(ih, g.kernel, g.stride, g.padding, g.out_h);
    const PoolWindowRange rw = pool_windows_covering(iw, g.kernel, g.stride, g.padding, g.out_w);
    const int64_t base = p * g.out_h * g.out_w;
    float acc = 0.f;
    for (int64_t oh = rh.lo; oh < rh.hi; ++oh)
      for (int64_t ow = rw.lo; ow < rw.hi; ++ow) acc += to_f32(dy[base + oh * g.out_w + ow]);
    dx[i] = from_f32<T>(acc * inv_area);
  }
}

template <class T>
__global__ void adaptive_forward_kernel(Pool2dGeometry g, const T* x, T* y, int64_t total) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    int64_t ow = o % g.out_w, oh = (o / g.out_w) % g.out_h, p = o / (g.out_w * g.out_h);
    int64_t h0 = adaptive_bin_start(oh, g.h, g.out_h), h1 = adaptive_bin_end(oh, g.h, g.out_h);
    int64_t w0 = adaptive_bin_start(ow, g.w, g.out_w), w1 = adaptive_bin_end(ow, g.w, g.out_w);
    const T* plane = x + p * g.h * g.w;
    float acc = 0.f;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) acc += to_f32(plane[ih * g.w + iw]);
    y[o] = from_f32<T>(acc / float((h1 - h0) * (w1 - w0)));
  }
}

template <class T>
__global__ void adaptive_backward_kernel(Pool2dGeometry g, const T* dy, T* dx, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t iw = i % g.w, ih = (i / g.w) % g.h, p = i / (g.w * g.h);
    // Bins containing index i (of `in`) are [floor(i*out/in), ceil((i+1)*out/in)); the explicit
    // membership test below keeps this exact at the edges.
    int64_t oh_lo = (ih * g.out_h) / g.h, oh_hi = ((ih + 1) * g.out_h + g.h - 1) / g.h;
    int64_t ow_lo = (iw * g.out_w) / g.w, ow_hi = ((iw + 1) * g.out_w + g.w - 1) / g.w;
    const int64_t base = p * g.out_h * g.out_w;
    float acc = 0.f;
    for (int64_t oh = oh_lo; oh < oh_hi && oh < g.out_h; ++oh) {
      int64_t h0 = adaptive_bin_start(oh, g.h, g.out_h), h1 = adaptive_bin_end(oh, g.h, g.out_h);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = ow_lo; ow < ow_hi && ow < g.out_w; ++ow) {
        int64_t w0 = adaptive_bin_start(ow, g.w, g.out_w), w1 = adaptive_bin_end(ow, g.w, g.out_w);
        if (iw < w0 || iw >= w1) continue;
        acc += to_f32(dy[base + oh * g.out_w + ow]) / float((h1 - h0) * (w1 - w0));
      }
    }
    dx[i] = from_f32<T>(acc);
  }
}

int64_t out_count(const Pool2dGeometry& g) { return g.planes * g.out_h * g.out_w; }
int64_t in_count(const Pool2dGeometry& g) { return g.planes * g.h * g.w; }

}  // namespace

void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, int64_t* argmax,
                        cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, max_forward_kernel, out_count(g), stream,
                         g, static_cast<const T*>(x), static_cast<T*>(y), argmax);
}

void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, const int64_t* argmax, void* dx,
                         cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, max_backward_kernel, in_count(g), stream,
                         g, static_cast<const T*>(dy), argmax, static_cast<T*>(dx));
}

void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, avg_forward_kernel, out_count(g), stream,
                         g, static_cast<const T*>(x), static_cast<T*>(y));
}

void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx, cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, avg_backward_kernel, in_count(g), stream,
                         g, static_cast<const T*>(dy), static_cast<T*>(dx));
}

void adaptive_avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, adaptive_forward_kernel, out_count(g), stream,
                         g, static_cast<const T*>(x), static_cast<T*>(y));
}

void adaptive_avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx,
                                  cudaStream_t stream) {
  IQA_LAUNCH_PER_ELEMENT(IQA_DISPATCH_FLOAT_CUDA, dtype, adaptive_backward_kernel, in_count(g), stream,
                         g, static_cast<const T*>(dy), static_cast<T*>(dx));
}

}  // namespace iqa::kernels::cuda
