// How kernels/cuda/conv.cu picks a cuDNN convolution algorithm, as plain host logic (no cuDNN types)
// so CPU tests check it (tests/test_kernel_checks.cpp).
//
// cuDNN's heuristic query lists every algorithm with a status, a determinism flag, a math type and a
// workspace size, sorted by expected speed. The order tried: the usable deterministic ones in the
// heuristic's order, then, as the last resort, the usable non-deterministic ones (a seeded run then no
// longer repeats bit for bit, so conv.cu warns once per shape). Usable: listed with success status,
// workspace within the cap, and for f32 not tensor-op (TF32) math, so f32 matches the CPU reference.
// At run time an algorithm that reports NOT_SUPPORTED (some grouped / dilated bf16 shapes, the NHWC
// stem with 3 input channels) or cannot get its workspace is skipped for the next one.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/error.h"

namespace iqa::kernels {

struct ConvAlgoCandidate {
  int algo = 0;
  bool listed_ok = true;  // the heuristic's status for it was success
  bool deterministic = true;
  bool tensor_op = false;  // tensor-op math (TF32 for f32 data)
  size_t workspace_bytes = 0;
};

// Indices into `listed`, in the order to try them.
inline std::vector<size_t> conv_algo_try_order(const std::vector<ConvAlgoCandidate>& listed, bool f32,
                                               size_t max_workspace_bytes) {
  std::vector<size_t> order;
  for (bool deterministic : {true, false})
    for (size_t i = 0; i < listed.size(); ++i) {
      const ConvAlgoCandidate& c = listed[i];
      if (c.deterministic != deterministic || !c.listed_ok || c.workspace_bytes > max_workspace_bytes) continue;
      if (f32 && c.tensor_op) continue;
      order.push_back(i);
    }
  return order;
}

// cuDNN 9 status codes (cudnn_graph.h; conv.cu checks them against the header): the NOT_SUPPORTED
// family is 3000-3999; a device allocation failure inside cuDNN, or a workspace it finds too small,
// are workspace failures.
inline constexpr int kCudnnNotSupported = 3000;
inline constexpr int kCudnnBadParamSizeInsufficient = 2006;
inline constexpr int kCudnnDeviceAllocationFailed = 4004;

// Whether a run-time status of one algorithm means "try the next candidate" rather than "fail".
inline bool conv_status_tries_next(int cudnn_status) {
  return cudnn_status / 1000 * 1000 == kCudnnNotSupported || cudnn_status == kCudnnBadParamSizeInsufficient ||
         cudnn_status == kCudnnDeviceAllocationFailed;
}

// The shape as warnings and errors name it: "NHWC bf16 x[8, 3, 224, 224] w[64, 3, 7, 7] stride 2 pad 3
// dilation 1 groups 1".
inline std::string conv_shape_description(const Conv2dGeometry& g, const char* layout, DType dtype) {
  return cat(layout, " ", dtype_name(dtype), " x[", g.n, ", ", g.c_in, ", ", g.h, ", ", g.w, "] w[", g.c_out, ", ",
             g.c_in_per_group(), ", ", g.kh, ", ", g.kw, "] stride ", g.stride, " pad ", g.padding, " dilation ",
             g.dilation, " groups ", g.groups);
}

}  // namespace iqa::kernels
