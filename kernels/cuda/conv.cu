// CUDA convolution through cuDNN's convolution API (still shipped in cuDNN 9): descriptors and chosen
// algorithms are cached per (geometry, dtype, device) and per thread, like the handle and workspace.
//
// Algorithm choice: cuDNN's heuristic query (Get*_v7), not the timing search (Find*), deterministic
// algorithms first: the same shapes then always run the same kernels, so a seeded run repeats bit for
// bit (shared/DESIGN.md, Determinism). The policy (kernels/conv_algo.h): candidates in the heuristic's
// order, the next one when an algorithm reports NOT_SUPPORTED at run time or its workspace cannot be
// had, and a non-deterministic one, with a one-time warning naming the shape, only when no
// deterministic one runs. f32 runs with FMA math (no TF32) so it matches the CPU reference to ~1e-5;
// bf16/f16 take tensor-core algorithms with f32 accumulation.
//
// Layouts: NCHW (filter KCRS) and NHWC (filter KRSC). Both run through the same plans; only the
// descriptors' format differs. NHWC is the layout cuDNN's tensor-core kernels work in natively: with
// NCHW tensors it transposes internally around many bf16 convolutions, so a channels-last network
// saves those passes. The filter must be KRSC as well (a mixed NHWC-data / KCRS-filter pair makes
// cuDNN fall back to slow or non-tensor-core algorithms), which is why the NHWC entry points take it
// in that order.
#include <cudnn.h>

#include <climits>
#include <cstdio>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "kernels/conv.h"
#include "kernels/conv_algo.h"
#include "kernels/cuda/dtype_io.cuh"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

// Algorithms wanting more scratch than this are skipped (a heuristic pick is not worth a huge buffer).
constexpr size_t kMaxWorkspaceBytes = size_t(1) << 30;

static_assert(int(CUDNN_STATUS_NOT_SUPPORTED) == kCudnnNotSupported &&
                  int(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT) == kCudnnBadParamSizeInsufficient &&
                  int(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) == kCudnnDeviceAllocationFailed,
              "kernels/conv_algo.h's cuDNN status codes differ from cudnn_graph.h");

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

// The thread's scratch buffer of at least `bytes`, or nullptr when the device has not that much memory
// free (the caller then tries an algorithm that needs less).
void* try_workspace(size_t bytes) {
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
    const cudaError_t err = cudaMalloc(&ws.ptr, bytes);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear it, so the next launch check does not report it
      ws.ptr = nullptr;
      return nullptr;
    }
    IQA_CUDA_CHECK(err);
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

// One direction's algorithm choice for one plan: the candidates in the order to try (from the
// heuristic, on first use) and the one in use.
struct AlgoChoice {
  struct Candidate {
    int algo = 0;
    cudnnMathType_t math = CUDNN_DEFAULT_MATH;
    size_t workspace = 0;
    bool deterministic = true;
  };
  bool listed = false;
  std::vector<Candidate> order;
  size_t current = 0;    // index into `order`
  bool settled = false;  // order[current] has run once
};

bool is_tensor_op(cudnnMathType_t m) { return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

// Lists the candidates once: `query(capacity, &count, perf)` is the direction's Get*Algorithm_v7.
template <class Perf, int Capacity, class Query>
void list_candidates(AlgoChoice& choice, DType dtype, Query&& query) {
  if (choice.listed) return;
  Perf perf[Capacity];
  int count = 0;
  IQA_CUDNN_CHECK(query(Capacity, &count, perf));
  std::vector<ConvAlgoCandidate> listed;
  for (int i = 0; i < count; ++i)
    listed.push_back({int(perf[i].algo), perf[i].status == CUDNN_STATUS_SUCCESS,
                      perf[i].determinism == CUDNN_DETERMINISTIC, is_tensor_op(perf[i].mathType), perf[i].memory});
  for (size_t i : conv_algo_try_order(listed, dtype == DType::F32, kMaxWorkspaceBytes))
    choice.order.push_back({listed[i].algo, dtype == DType::F32 ? CUDNN_FMA_MATH : perf[i].mathType,
                            listed[i].workspace_bytes, listed[i].deterministic});
  choice.listed = true;
}

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  AlgoChoice fwd, bwd_data, bwd_filter;
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
const char* layout_name(Layout layout) { return layout == Layout::NHWC ? "NHWC" : "NCHW"; }

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

// Runs one direction of a plan. `query` lists the candidates on first use (see list_candidates);
// `run(algo, workspace, workspace_bytes)` issues the cuDNN call and returns its status. Until a
// candidate has run, and whenever the one in use stops running, the next is tried.
template <class Perf, int Capacity, class Query, class Run>
void run_direction(AlgoChoice& choice, cudnnConvolutionDescriptor_t conv, const char* direction, Layout layout,
                   DType dtype, const Conv2dGeometry& g, Query&& query, Run&& run) {
  list_candidates<Perf, Capacity>(choice, dtype, query);
  for (; choice.current < choice.order.size(); ++choice.current, choice.settled = false) {
    const AlgoChoice::Candidate& c = choice.order[choice.current];
    void* ws = try_workspace(c.workspace);
    if (c.workspace > 0 && ws == nullptr) continue;  // not enough device memory for this one
    IQA_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, c.math));
    const cudnnStatus_t status = run(c.algo, ws, c.workspace);
    if (status == CUDNN_STATUS_SUCCESS) {
      if (!choice.settled && !c.deterministic)
        std::fprintf(stderr, "iqa: warning: conv2d %s (cuDNN) for %s: no deterministic algorithm runs, using "
                     "non-deterministic algorithm %d; results may differ from run to run\n",
                     direction, conv_shape_description(g, layout_name(layout), dtype).c_str(), c.algo);
      choice.settled = true;
      ::iqa::detail::sync_check_after(direction, __FILE__, __LINE__);
      return;
    }
    if (!conv_status_tries_next(int(status)))
      fail(cat("conv2d ", direction, " (cuDNN) for ", conv_shape_description(g, layout_name(layout), dtype),
               ": algorithm ", c.algo, " failed: ", cudnnGetErrorString(status), " (status ", int(status), ")"));
  }
  fail(cat("conv2d ", direction, " (cuDNN) for ", conv_shape_description(g, layout_name(layout), dtype), ": none of ",
           choice.order.size(), " candidate algorithms ran (not supported, or no memory for the workspace)"));
}

// Channel of flat element i: NCHW (i / plane) % channels, NHWC i % channels (plane = 1 gives that).
template <class T>
__global__ void add_bias(T* y, const T* bias, int64_t channels, int64_t plane, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t c = (i / plane) % channels;
    y[i] = from_f32<T>(to_f32(y[i]) + to_f32(bias[c]));
  }
}

// Scaling factors are float for every data type we use (cuDNN wants double only for f64 data).
const float kOne = 1.f, kZero = 0.f;

void forward(Layout layout, DType dtype, const Conv2dGeometry& g, const void* x, const void* weight, const void* bias,
             void* y, cudaStream_t stream) {
  cudnnHandle_t h = handle_on(stream);
  ConvPlan& p = plan_for(dtype, g, layout);
  run_direction<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
      p.fwd, p.conv, "forward", layout, dtype, g,
      [&](int cap, int* count, auto* perf) {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, cap, count, perf);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionForward(h, &kOne, p.x, x, p.w, weight, p.conv, cudnnConvolutionFwdAlgo_t(algo), ws,
                                       bytes, &kZero, p.y, y);
      });
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
  run_direction<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
      p.bwd_data, p.conv, "backward-data", layout, dtype, g,
      [&](int cap, int* count, auto* perf) {
        return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, cap, count, perf);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardData(h, &kOne, p.w, weight, p.y, dy, p.conv,
                                            cudnnConvolutionBwdDataAlgo_t(algo), ws, bytes, &kZero, p.x, dx);
      });
}

void backward_weight(Layout layout, DType dtype, const Conv2dGeometry& g, const void* x, const void* dy, void* dweight,
                     cudaStream_t stream) {
  cudnnHandle_t h = handle_on(stream);
  ConvPlan& p = plan_for(dtype, g, layout);
  run_direction<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
      p.bwd_filter, p.conv, "backward-filter", layout, dtype, g,
      [&](int cap, int* count, auto* perf) {
        return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, cap, count, perf);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardFilter(h, &kOne, p.x, x, p.y, dy, p.conv,
                                              cudnnConvolutionBwdFilterAlgo_t(algo), ws, bytes, &kZero, p.w, dweight);
      });
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
