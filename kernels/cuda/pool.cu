// CUDA pooling. Forward: one thread per output pixel. Backward: one thread per *input* pixel that
// visits the few output windows covering it and sums their gradients, so overlapping windows need no
// atomics and the result is deterministic for every dtype. f32 accumulation throughout.
#include <cmath>

#include "kernels/cuda/dtype_io.cuh"
#include "kernels/pool.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kBlock = 256;

// Output windows [lo, hi) along one axis whose taps include input index i.
struct WindowRange {
  int64_t lo, hi;
};
__device__ __forceinline__ WindowRange windows_covering(int64_t i, int64_t kernel, int64_t stride, int64_t padding,
                                                        int64_t out) {
  // Window o covers [o*stride - padding, o*stride - padding + kernel).
  int64_t first = i + padding - kernel + 1;  // o*stride >= first
  int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  int64_t hi = (i + padding) / stride + 1;   // o*stride <= i + padding
  return {lo, hi < out ? hi : out};
}

__device__ __forceinline__ int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ __forceinline__ int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

template <class T>
__global__ void max_forward_kernel(Pool2dGeometry g, const T* x, T* y, int64_t* argmax, int64_t total) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    int64_t ow = o % g.out_w, oh = (o / g.out_w) % g.out_h, p = o / (g.out_w * g.out_h);
    const T* plane = x + p * g.h * g.w;
    float best = -INFINITY;
    int64_t best_at = -1;
    for (int64_t i = 0; i < g.kernel; ++i) {
      int64_t ih = oh * g.stride - g.padding + i;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t j = 0; j < g.kernel; ++j) {
        int64_t iw = ow * g.stride - g.padding + j;
        if (iw < 0 || iw >= g.w) continue;
        float v = to_f32(plane[ih * g.w + iw]);
        if (best_at < 0 || v > best || isnan(v)) {  // NaN wins, like torch and the CPU reference
          best = v;
          best_at = ih * g.w + iw;
        }
      }
    }
    y[o] = from_f32<T>(best);
    argmax[o] = best_at < 0 ? 0 : best_at;
  }
}

template <class T>
__global__ void max_backward_kernel(Pool2dGeometry g, const T* dy, const int64_t* argmax, T* dx, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t iw = i % g.w, ih = (i / g.w) % g.h, p = i / (g.w * g.h);
    WindowRange rh = windows_covering(ih, g.kernel, g.stride, g.padding, g.out_h);
    WindowRange rw = windows_covering(iw, g.kernel, g.stride, g.padding, g.out_w);
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
    WindowRange rh = windows_covering(ih, g.kernel, g.stride, g.padding, g.out_h);
    WindowRange rw = windows_covering(iw, g.kernel, g.stride, g.padding, g.out_w);
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
    int64_t h0 = bin_start(oh, g.h, g.out_h), h1 = bin_end(oh, g.h, g.out_h);
    int64_t w0 = bin_start(ow, g.w, g.out_w), w1 = bin_end(ow, g.w, g.out_w);
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
      int64_t h0 = bin_start(oh, g.h, g.out_h), h1 = bin_end(oh, g.h, g.out_h);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = ow_lo; ow < ow_hi && ow < g.out_w; ++ow) {
        int64_t w0 = bin_start(ow, g.w, g.out_w), w1 = bin_end(ow, g.w, g.out_w);
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
  int64_t n = out_count(g);
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    max_forward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(g, static_cast<const T*>(x), static_cast<T*>(y),
                                                                      argmax, n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, const int64_t* argmax, void* dx,
                         cudaStream_t stream) {
  int64_t n = in_count(g);
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    max_backward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(g, static_cast<const T*>(dy), argmax,
                                                                       static_cast<T*>(dx), n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, cudaStream_t stream) {
  int64_t n = out_count(g);
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    avg_forward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(g, static_cast<const T*>(x), static_cast<T*>(y),
                                                                      n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx, cudaStream_t stream) {
  int64_t n = in_count(g);
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    avg_backward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(g, static_cast<const T*>(dy),
                                                                       static_cast<T*>(dx), n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void adaptive_avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, cudaStream_t stream) {
  int64_t n = out_count(g);
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    adaptive_forward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(g, static_cast<const T*>(x),
                                                                           static_cast<T*>(y), n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

void adaptive_avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* dy, void* dx,
                                  cudaStream_t stream) {
  int64_t n = in_count(g);
  if (n == 0) return;
  IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
    adaptive_backward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(g, static_cast<const T*>(dy),
                                                                            static_cast<T*>(dx), n);
  });
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace iqa::kernels::cuda
