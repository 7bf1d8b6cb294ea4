// The scale-shift loss in one launch of one block (math in kernels/scale_shift_loss.h).
//
// Why one block: SIND's batches are small (64-128 predictions in 2-4 scenes); PyTorch's eager version
// loops over scenes with dozens of tiny kernels, so the cost is launches, not arithmetic. One block of
// 512 threads does everything with __syncthreads between phases; the O(n^2) rank search for the median
// is 16k comparisons at n = 128. Every sum runs in a fixed order (a warp per scene, shuffle trees), so
// results are deterministic run to run.
//
// Phases (i = element, L = its scene's first element, the "leader"; k = compact scene number):
//  1. load p, g as f32; leader[i] = first index with the same scene id;
//  2. per element: group size and rank of p_i, g_i in the group (ties by index); the element of rank
//     (n-1)/2 writes the lower median at the leader's slot; leaders number the scenes;
//  3. one warp per scene: sums of |d|, sign(d), ties, then of |p̂ - ĝ|, sign, sign*p̂, sign*ĝ;
//  4. the loss (scenes summed in order) and, when asked, each element's gradient.
// With SceneLossNorm::None (per-scene raw L1) phase 2 only numbers the scenes, t = 0 and S = 1, and
// the gradient is sign(p - g) / (n_scene * scenes).
#include "kernels/cuda/dtype_io.cuh"
#include "kernels/scale_shift_loss.h"

namespace iqa::kernels::cuda {

using namespace cuda_detail;

namespace {

constexpr int kThreads = 512;
constexpr int kWarp = 32;

// Per-scene statistics, written in phase 3 by the scene's warp.
struct SceneStats {
  float median_p, median_g;  // t
  float scale_p, scale_g;    // S = mean |d| + eps
  float loss;                // mean |p̂ - ĝ|
  float c_sum;               // C = sum_i sign(p̂_i - ĝ_i) / n
  float h_p, h_g;            // sum_i sign(.) p̂_i / n and sum_i sign(.) ĝ_i / n
  float sign_sum_p, sign_sum_g;
  float ties_p, ties_g;
  float count;
};

struct Workspace {
  float* p;            // [n]
  float* g;            // [n]
  float* median_p_at;  // [n], valid at leader slots
  float* median_g_at;  // [n]
  int* leader;         // [n]
  int* scene_number;   // [n], valid at leader slots
  int* leader_of_scene;  // [n], first G entries valid
  SceneStats* stats;   // [n], first G entries valid
};

__host__ __device__ Workspace carve(void* base, int64_t n) {
  Workspace w;
  char* p = static_cast<char*>(base);
  w.stats = reinterpret_cast<SceneStats*>(p);
  p += sizeof(SceneStats) * size_t(n);
  w.p = reinterpret_cast<float*>(p), p += sizeof(float) * size_t(n);
  w.g = reinterpret_cast<float*>(p), p += sizeof(float) * size_t(n);
  w.median_p_at = reinterpret_cast<float*>(p), p += sizeof(float) * size_t(n);
  w.median_g_at = reinterpret_cast<float*>(p), p += sizeof(float) * size_t(n);
  w.leader = reinterpret_cast<int*>(p), p += sizeof(int) * size_t(n);
  w.scene_number = reinterpret_cast<int*>(p), p += sizeof(int) * size_t(n);
  w.leader_of_scene = reinterpret_cast<int*>(p);
  return w;
}

__device__ __forceinline__ float sign_of(float x) { return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// dL/dx_j through one side's normalisation (header formula); c_j = dL/dx̂_j, c_sum and h are the
// side's C and H.
__device__ __forceinline__ float normalize_backward(float c_j, float d_j, bool is_median, float c_sum, float h,
                                                    float scale, float sign_sum, float ties, float count) {
  const float dscale = (sign_of(d_j) - (is_median ? sign_sum / ties : 0.f)) / count;
  return (c_j - (is_median ? c_sum / ties : 0.f)) / scale - (h / scale) * dscale;
}

template <class T>
__global__ void __launch_bounds__(kThreads) scale_shift_loss_kernel(const T* __restrict__ pred,
                                                                  const T* __restrict__ mos,
                                                                  const int64_t* __restrict__ scene, int n,
                                                                  float eps, T* loss, T* grad_pred, T* grad_mos,
                                                                  Workspace ws, bool normalize) {
  __shared__ int scene_count;
  if (threadIdx.x == 0) scene_count = 0;

  // Phase 1.
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    ws.p[i] = to_f32<T>(pred[i]);
    ws.g[i] = to_f32<T>(mos[i]);
    const int64_t s = scene[i];
    int first = i;
    for (int j = 0; j < i; ++j)
      if (scene[j] == s) {
        first = j;
        break;
      }
    ws.leader[i] = first;
  }
  __syncthreads();

  // Phase 2.
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int lead = ws.leader[i];
    const float pi = ws.p[i], gi = ws.g[i];
    int count = 0, rank_p = 0, rank_g = 0, scenes_before = 0;
    for (int j = lead; normalize && j < n; ++j) {
      if (ws.leader[j] != lead) continue;
      ++count;
      const float pj = ws.p[j], gj = ws.g[j];
      rank_p += (pj < pi || (pj == pi && j < i));
      rank_g += (gj < gi || (gj == gi && j < i));
    }
    const int median_rank = (count - 1) / 2;
    if (!normalize) {
      if (lead == i) ws.median_p_at[i] = ws.median_g_at[i] = 0.f;
    } else {
      if (rank_p == median_rank) ws.median_p_at[lead] = pi;
      if (rank_g == median_rank) ws.median_g_at[lead] = gi;
    }
    if (lead == i) {
      for (int j = 0; j < i; ++j) scenes_before += (ws.leader[j] == j);
      ws.scene_number[i] = scenes_before;
      ws.leader_of_scene[scenes_before] = i;
      atomicMax(&scene_count, scenes_before + 1);
    }
  }
  __syncthreads();

  // Phase 3: a warp per scene, lanes striding over the scene's members in index order.
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  const int scenes = scene_count;
  for (int k = warp; k < scenes; k += warps) {
    const int lead = ws.leader_of_scene[k];
    const float tp = ws.median_p_at[lead], tg = ws.median_g_at[lead];
    float abs_p = 0, abs_g = 0, sgn_p = 0, sgn_g = 0, tie_p = 0, tie_g = 0, count = 0;
    for (int i = lead + lane; i < n; i += kWarp) {
      if (ws.leader[i] != lead) continue;
      const float dp = ws.p[i] - tp, dg = ws.g[i] - tg;
      abs_p += fabsf(dp), abs_g += fabsf(dg);
      sgn_p += sign_of(dp), sgn_g += sign_of(dg);
      tie_p += (ws.p[i] == tp), tie_g += (ws.g[i] == tg);
      count += 1.f;
    }
    count = warp_sum(count);
    abs_p = warp_sum(abs_p), abs_g = warp_sum(abs_g);
    const float scale_p = normalize ? abs_p / count + eps : 1.f, scale_g = normalize ? abs_g / count + eps : 1.f;
    float l1 = 0, c_sum = 0, h_p = 0, h_g = 0;
    for (int i = lead + lane; i < n; i += kWarp) {
      if (ws.leader[i] != lead) continue;
      const float u = (ws.p[i] - tp) / scale_p, v = (ws.g[i] - tg) / scale_g;
      const float diff = u - v, s = sign_of(diff);
      l1 += fabsf(diff), c_sum += s, h_p += s * u, h_g += s * v;
    }
    l1 = warp_sum(l1), c_sum = warp_sum(c_sum), h_p = warp_sum(h_p), h_g = warp_sum(h_g);
    sgn_p = warp_sum(sgn_p), sgn_g = warp_sum(sgn_g), tie_p = warp_sum(tie_p), tie_g = warp_sum(tie_g);
    if (lane == 0) {
      SceneStats st;
      st.median_p = tp, st.median_g = tg, st.scale_p = scale_p, st.scale_g = scale_g;
      st.loss = l1 / count, st.c_sum = c_sum / count, st.h_p = h_p / count, st.h_g = h_g / count;
      st.sign_sum_p = sgn_p, st.sign_sum_g = sgn_g, st.ties_p = tie_p, st.ties_g = tie_g, st.count = count;
      ws.stats[k] = st;
    }
  }
  __syncthreads();

  // Phase 4.
  const float inv_scenes = 1.f / float(scenes);
  if (threadIdx.x == 0) {
    float total = 0;
    for (int k = 0; k < scenes; ++k) total += ws.stats[k].loss;
    loss[0] = from_f32<T>(total * inv_scenes);
  }
  if (grad_pred == nullptr && grad_mos == nullptr) return;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const SceneStats st = ws.stats[ws.scene_number[ws.leader[i]]];
    const float dp = ws.p[i] - st.median_p, dg = ws.g[i] - st.median_g;
    const float u = dp / st.scale_p, v = dg / st.scale_g;
    const float c = sign_of(u - v) / st.count;
    if (!normalize) {
      if (grad_pred) grad_pred[i] = from_f32<T>(inv_scenes * c);
      if (grad_mos) grad_mos[i] = from_f32<T>(-inv_scenes * c);
      continue;
    }
    if (grad_pred)
      grad_pred[i] = from_f32<T>(inv_scenes * normalize_backward(c, dp, ws.p[i] == st.median_p, st.c_sum, st.h_p,
                                                                 st.scale_p, st.sign_sum_p, st.ties_p, st.count));
    if (grad_mos)
      grad_mos[i] = from_f32<T>(inv_scenes * normalize_backward(-c, dg, ws.g[i] == st.median_g, -st.c_sum,
                                                                -st.h_g, st.scale_g, st.sign_sum_g, st.ties_g,
                                                                st.count));
  }
}

}  // namespace

size_t scale_shift_loss_workspace_bytes(int64_t n) {
  return size_t(n) * (sizeof(SceneStats) + 4 * sizeof(float) + 3 * sizeof(int));
}

void scale_shift_loss(DType dtype, const void* pred, const void* mos, const int64_t* scene_ids, int64_t n,
                      double eps, void* loss, void* grad_pred, void* grad_mos, void* workspace,
                      cudaStream_t stream, SceneLossNorm norm) {
  IQA_CHECK(n > 0 && n < (int64_t(1) << 30), "scale_shift_loss (cuda): batch of ", n, " elements");
  const Workspace ws = carve(workspace, n);
  IQA_DISPATCH_FLOAT_CUDA(dtype, T,
                          scale_shift_loss_kernel<T><<<1, kThreads, 0, stream>>>(
                              static_cast<const T*>(pred), static_cast<const T*>(mos), scene_ids, int(n),
                              float(eps), static_cast<T*>(loss), static_cast<T*>(grad_pred),
                              static_cast<T*>(grad_mos), ws,
                              norm == SceneLossNorm::RobustScaleShift));
  IQA_CUDA_CHECK_LAUNCH();
}

}  // namespace iqa::kernels::cuda
