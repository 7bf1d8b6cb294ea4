// CPU reference of the LocalGlobal fusion head (kernels/fusion_head.h): plain loops, f64 accumulation.
#include "kernels/fusion_head.h"

#include <vector>

#include "kernels/error.h"

namespace iqa::kernels::cpu {
namespace {

template <class T>
void forward(const FusionHeadShape& s, const T* g, const T* tokens, const T* w, const T* bias, T* out, T* mean) {
  const int64_t G = s.global, N = s.tokens, D = s.width;
  std::vector<double> acc(static_cast<size_t>(D));
  for (int64_t b = 0; b < s.batch; ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const T* tb = tokens + b * N * D;
    for (int64_t t = 0; t < N; ++t)
      for (int64_t d = 0; d < D; ++d) acc[size_t(d)] += double(tb[t * D + d]);
    double q = double(bias[0]);
    for (int64_t i = 0; i < G; ++i) q += double(w[i]) * double(g[b * G + i]);
    for (int64_t d = 0; d < D; ++d) {
      const T m = T(acc[size_t(d)] / double(N));
      mean[b * D + d] = m;
      q += double(w[G + d]) * double(m);
    }
    out[b] = T(q);
  }
}

template <class T>
void backward(const FusionHeadShape& s, const T* dq, const T* g, const T* mean, const T* w, T* dg, T* dtokens,
              T* dw, T* dbias) {
  const int64_t G = s.global, N = s.tokens, D = s.width;
  std::vector<double> dw_acc(size_t(G + D), 0.0);
  double dbias_acc = 0;
  for (int64_t b = 0; b < s.batch; ++b) {
    const double go = double(dq[b]);
    for (int64_t i = 0; i < G; ++i) {
      dg[b * G + i] = T(go * double(w[i]));
      dw_acc[size_t(i)] += go * double(g[b * G + i]);
    }
    for (int64_t d = 0; d < D; ++d) {
      const T per_token = T(go * double(w[G + d]) / double(N));  // the mean spreads dq evenly over tokens
      for (int64_t t = 0; t < N; ++t) dtokens[(b * N + t) * D + d] = per_token;
      dw_acc[size_t(G + d)] += go * double(mean[b * D + d]);
    }
    dbias_acc += go;
  }
  for (int64_t c = 0; c < G + D; ++c) dw[c] = T(dw_acc[size_t(c)]);
  dbias[0] = T(dbias_acc);
}

void check_dtype(DType dtype, const char* what) {
  IQA_CHECK(dtype == DType::F32 || dtype == DType::F64, what, ": dtype ", dtype_name(dtype), " (f32 or f64 expected)");
}

}  // namespace

void fusion_head_forward(DType dtype, const FusionHeadShape& s, const void* global_cls, const void* local_tokens,
                         const void* weight, const void* bias, void* out, void* token_mean) {
  check_dtype(dtype, "fusion_head_forward (cpu)");
  if (dtype == DType::F32)
    forward(s, static_cast<const float*>(global_cls), static_cast<const float*>(local_tokens),
            static_cast<const float*>(weight), static_cast<const float*>(bias), static_cast<float*>(out),
            static_cast<float*>(token_mean));
  else
    forward(s, static_cast<const double*>(global_cls), static_cast<const double*>(local_tokens),
            static_cast<const double*>(weight), static_cast<const double*>(bias), static_cast<double*>(out),
            static_cast<double*>(token_mean));
}

void fusion_head_backward(DType dtype, const FusionHeadShape& s, const void* grad_out, const void* global_cls,
                          const void* token_mean, const void* weight, void* grad_global, void* grad_tokens,
                          void* grad_weight, void* grad_bias) {
  check_dtype(dtype, "fusion_head_backward (cpu)");
  if (dtype == DType::F32)
    backward(s, static_cast<const float*>(grad_out), static_cast<const float*>(global_cls),
             static_cast<const float*>(token_mean), static_cast<const float*>(weight), static_cast<float*>(grad_global),
             static_cast<float*>(grad_tokens), static_cast<float*>(grad_weight), static_cast<float*>(grad_bias));
  else
    backward(s, static_cast<const double*>(grad_out), static_cast<const double*>(global_cls),
             static_cast<const double*>(token_mean), static_cast<const double*>(weight),
             static_cast<double*>(grad_global), static_cast<double*>(grad_tokens), static_cast<double*>(grad_weight),
             static_cast<double*>(grad_bias));
}

}  // namespace iqa::kernels::cpu
