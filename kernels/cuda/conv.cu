// CUDA convolution through cuDNN's convolution API (still shipped in cuDNN 9): descriptors and chosen
// algorithms are cached per (geometry, dtype, device) and per thread, like the handle and workspace.
//
// Algorithm choice: cuDNN's heuristic query (Get*_v7), not the timing search (Find*), and only
// deterministic algorithms: the same shapes then always run the same kernels, so a seeded run repeats
// bit for bit (shared/DESIGN.md, Determinism). f32 runs with FMA math (no TF32) so it matches the CPU
// reference to ~1e-5; bf16/f16 take tensor-core algorithms with f32 accumulation.
//
// Layouts: NCHW (filter KCRS) and NHWC (filter KRSC). Both run through the same plans; only the
// descriptors' format differs. NHWC is the layout cuDNN's tensor-core kernels work in natively: with
// NCHW tensors it transposes internally around many bf16 convolutions, so a channels-last network
// saves those passes. The filter must be KRSC as well (a mixed NHWC-data / KCRS-filter pair makes
// cuDNN fall back to slow or non-tensor-core algorithms), which is why the NHWC entry points take it
// in that order.
#include <cudnn.h>

#include <climits>
#include <map>
#include <memory>
#include <tuple>

#include "kernels/conv.h"
#include "kernels/cuda/dtype_io.cuh"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

// Algorithms wanting more scratch than this are skipped (a heuristic pick is not worth a huge buffer).
constexpr size_t kMaxWorkspaceBytes = size_t(1) << 30;

struct HandleHolder {
  cudnnHandle_t handle = nullptr;
  ~HandleHolder() {
    if (handle) cudnnDestroy(handle);  // errors ignored: the runtime may already be shutting down
  }
};

cudnnHandle_t handle_on(cudaStream_t stream) {
  thread_local HandleHolder holder;
  if (!holder.handle) IQA_CUDNN_CHECK(cudnnCreate(&holder.handle));
  IQA_CUDNN_CHECK(cudnnSetStream(holder.handle, stream));
  return holder.handle;
}

// One scratch buffer per thread that only grows; steady-state training never allocates here.
struct Workspace {
  void* ptr = nullptr;
  size_t bytes = 0;
  ~Workspace() {
    if (ptr) cudaFree(ptr);
  }
};

void* workspace(size_t bytes) {
  thread_local Workspace ws;
  if (bytes == 0) return nullptr;
  if (bytes > ws.bytes) {
    if (ws.ptr) {
      // The old buffer may still be read by queued work on any stream of this thread.
      IQA_CUDA_CHECK(cudaDeviceSynchronize());
      IQA_CUDA_CHECK(cudaFree(ws.ptr));
      ws.ptr = nullptr;
      ws.bytes = 0;
    }
    IQA_CUDA_CHECK(cudaMalloc(&ws.ptr, bytes));
    ws.bytes = bytes;
  }
  return ws.ptr;
}

cudnnDataType_t cudnn_dtype(DType t) {
  switch (t) {
    case DType::F32: return CUDNN_DATA_FLOAT;
    case DType::BF16: return CUDNN_DATA_BFLOAT16;
    case DType::F16: return CUDNN_DATA_HALF;
    default: fail(cat("conv2d (cuDNN): unsupported dtype ", dtype_name(t)));
  }
}

int as_int(int64_t v, const char* what) {
  IQA_CHECK(v >= 0 && v <= INT_MAX, "conv2d (cuDNN): ", what, " = ", v, " does not fit cuDNN's int sizes");
  return int(v);
}

template <class Perf>
struct Chosen {
  decltype(Perf::algo) algo{};
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

// First heuristic result that succeeds, is deterministic, fits the workspace cap and (for f32) does
// not use tensor-op (TF32) math. Results come sorted by expected speed.
template <class Perf>
Chosen<Perf> choose(const Perf* perf, int count, DType dtype, const char* direction) {
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC || p.memory > kMaxWorkspaceBytes)
      continue;
    bool tensor_op = p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (dtype == DType::F32 && tensor_op) continue;
    Chosen<Perf> c;
    c.algo = p.algo;
    c.math = dtype == DType::F32 ? CUDNN_FMA_MATH : p.mathType;
    c.workspace = p.memory;
    return c;
  }
  fail(cat("conv2d (cuDNN): no deterministic ", direction, " algorithm for this shape and dtype ", dtype_name(dtype)));
}

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  Chosen<cudnnConvolutionFwdAlgoPerf_t> fwd;
  Chosen<cudnnConvolutionBwdDataAlgoPerf_t> bwd_data;
  Chosen<cudnnConvolutionBwdFilterAlgoPerf_t> bwd_filter;
  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

enum class Layout : int { NCHW = 0, NHWC = 1 };

cudnnTensorFormat_t cudnn_format(Layout layout) {
  return layout == Layout::NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
}

using PlanKey = std::tuple<int, int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t>;

ConvPlan& plan_for(DType dtype, const Conv2dGeometry& g, Layout layout) {
  thread_local std::map<PlanKey, std::unique_ptr<ConvPlan>> cache;
  int device = 0;
  IQA_CUDA_CHECK(cudaGetDevice(&device));
  PlanKey key{device, int(dtype), int(layout), g.n, g.c_in, g.h, g.w, g.c_out, g.kh, g.kw, g.stride, g.padding, g.dilation, g.groups};
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;

  auto p = std::make_unique<ConvPlan>();
  cudnnDataType_t dt = cudnn_dtype(dtype);
  // The 4-d setters take sizes in (n, c, h, w) order whatever the format; the format picks the strides.
  const cudnnTensorFormat_t fmt = cudnn_format(layout);
  IQA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  IQA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  IQA_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  IQA_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  IQA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, fmt, dt, as_int(g.n, "batch"),
                                             as_int(g.c_in, "in channels"), as_int(g.h, "height"),
                                             as_int(g.w, "width")));
  IQA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, fmt, dt, as_int(g.n, "batch"),
                                             as_int(g.c_out, "out channels"), as_int(g.out_h, "out height"),
                                             as_int(g.out_w, "out width")));
  IQA_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, dt, fmt, as_int(g.c_out, "out channels"),
                                             as_int(g.c_in_per_group(), "in channels per group"),
                                             as_int(g.kh, "kernel height"), as_int(g.kw, "kernel width")));
  IQA_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
      p->conv, as_int(g.padding, "padding"), as_int(g.padding, "padding"), as_int(g.stride, "stride"),
      as_int(g.stride, "stride"), as_int(g.dilation, "dilation"), as_int(g.dilation, "dilation"),
      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  IQA_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, as_int(g.groups, "groups")));
  IQA_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, dtype == DType::F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
  ConvPlan& ref = *p;
  cache.emplace(key, std::move(p));
  return ref;
}

// Channel of flat element i: NCHW (i / plane) % channels, NHWC i % channels (plane = 1 gives that).
template <class T>
__global__ void add_bias(T* y, const T* bias, int64_t channels, int64_t plane, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t c = (i / plane) % channels;
    y[i] = from_f32<T>(to_f32(y[i]) + to_f32(bias[c]));
  }
}

void forward(Layout layout, DType dtype, const Conv2dGeometry& g, const void* x, const void* weight, const void* bias,
             void* y, cudaStream_t stream) {
  cudnnHandle_t h = handle_on(stream);
  ConvPlan& p = plan_for(dtype, g, layout);
  if (!p.have_fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    IQA_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                           &count, perf));
    p.fwd = choose(perf, count, dtype, "forward");
    p.have_fwd = true;
  }
  IQA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.fwd.math));
  // Scaling factors are float for every data type we use (cuDNN wants double only for f64 data).
  const float one = 1.f, zero = 0.f;
  IQA_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x, x, p.w, weight, p.conv, p.fwd.algo, workspace(p.fwd.workspace),
                                          p.fwd.workspace, &zero, p.y, y));
  if (bias) {
    int64_t total = g.n * g.c_out * g.out_h * g.out_w;
    int64_t plane = layout == Layout::NHWC ? 1 : g.out_h * g.out_w;
    if (total == 0) return;
    IQA_DISPATCH_FLOAT_CUDA(dtype, T, {
      add_bias<T><<<grid_for(total, 256), 256, 0, stream>>>(static_cast<T*>(y), static_cast<const T*>(bias), g.c_out,
                                                            plane, total);
    });
    IQA_CUDA_CHECK_LAUNCH();
  }
}

void backward_input(Layout layout, DType dtype, const Conv2dGeometry& g, const void* dy, const void* weight, void* dx,
                    cudaStream_t stream) {
  cudnnHandle_t h = handle_on(stream);
  ConvPlan& p = plan_for(dtype, g, layout);
  if (!p.have_bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    IQA_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf));
    p.bwd_data = choose(perf, count, dtype, "backward-data");
    p.have_bwd_data = true;
  }
  IQA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_data.math));
  const float one = 1.f, zero = 0.f;
  IQA_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, p.w, weight, p.y, dy, p.conv, p.bwd_data.algo,
                                               workspace(p.bwd_data.workspace), p.bwd_data.workspace, &zero, p.x, dx));
}

void backward_weight(Layout layout, DType dtype, const Conv2dGeometry& g, const void* x, const void* dy, void* dweight,
                     cudaStream_t stream) {
  cudnnHandle_t h = handle_on(stream);
  ConvPlan& p = plan_for(dtype, g, layout);
  if (!p.have_bwd_filter) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    IQA_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf));
    p.bwd_filter = choose(perf, count, dtype, "backward-filter");
    p.have_bwd_filter = true;
  }
  IQA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_filter.math));
  const float one = 1.f, zero = 0.f;
  IQA_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter.algo,
                                                 workspace(p.bwd_filter.workspace), p.bwd_filter.workspace, &zero,
                                                 p.w, dweight));
}

}  // namespace

void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* weight, const void* bias, void* y,
                    cudaStream_t stream) {
  forward(Layout::NCHW, dtype, g, x, weight, bias, y, stream);
}

void conv2d_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* weight, void* dx,
                           cudaStream_t stream) {
  backward_input(Layout::NCHW, dtype, g, dy, weight, dx, stream);
}

void conv2d_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy, void* dweight,
                            cudaStream_t stream) {
  backward_weight(Layout::NCHW, dtype, g, x, dy, dweight, stream);
}

void conv2d_nhwc_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* weight_krsc,
                         const void* bias, void* y, cudaStream_t stream) {
  forward(Layout::NHWC, dtype, g, x, weight_krsc, bias, y, stream);
}

void conv2d_nhwc_backward_input(DType dtype, const Conv2dGeometry& g, const void* dy, const void* weight_krsc,
                                void* dx, cudaStream_t stream) {
  backward_input(Layout::NHWC, dtype, g, dy, weight_krsc, dx, stream);
}

void conv2d_nhwc_backward_weight(DType dtype, const Conv2dGeometry& g, const void* x, const void* dy,
                                 void* dweight_krsc, cudaStream_t stream) {
  backward_weight(Layout::NHWC, dtype, g, x, dy, dweight_krsc, stream);
}

}  // namespace iqa::kernels::cuda
