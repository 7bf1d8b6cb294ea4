// Fused attention backward on tensor cores (FlashAttention-2 style), bf16/f16 in and out, f32 inside.
// The math (kernels/attention.h): P = exp(S - lse) is rebuilt from the forward's logsumexp, then
//   dV = P^T dO,  dP = dO V^T,  dS = P o (dP - Dvec),  dK = scale dS^T Q,  dQ = scale dS K.
//
// Four launches:
//   1. memset of the f32 dQ accumulator;
//   2. attention_dvec_kernel: Dvec = rowsum(dO o O), one f32 per query row;
//   3. attention_backward_kernel: one CTA per (batch, head, 64-key tile). Each of its 4 warps owns 16
//      keys and keeps their dK and dV in registers while the CTA walks all query tiles (Q, dO, lse and
//      Dvec double-buffered with cp.async). Per query tile a warp computes S^T = K Q^T for its keys,
//      so P^T, dP^T and dS^T sit in accumulator registers in exactly the layout the dV += P^T dO and
//      dK += dS^T Q products take as their A operand. dQ needs dS (queries x keys) against all 64 keys
//      of the CTA, so dS^T goes through shared memory once, and each warp then adds 16 query rows of
//      dS K into the f32 accumulator with atomics (each dQ element receives one add per key tile:
//      4 adds at S = 197);
//   4. attention_dq_convert_kernel: the accumulator to the data type.
//
// Query tiles are 64 rows for D <= 64 and 32 rows for D = 128, which keeps dK and dV (2 x 64 f32 per
// thread at D = 128) plus S^T and dP^T inside the register file without spilling. Skips as in the
// forward: warps whose keys lie past the sequence skip the math, and 16-query pairs past the end are
// skipped in every product, so S = 197 costs about 208 x 208 instead of 256 x 256.
//
// Causal (query i sees keys j <= i): the CTA's keys kv0.. are seen only by queries i >= kv0, so its
// walk starts at the query tile holding row kv0 (the tiles before lie wholly above the diagonal) and
// P^T is masked to 0 where key > query while it is rebuilt; dS^T is then 0 there too. No warp skips
// its math for causality: every warp writes its dS^T rows, which the dQ product reads.
//
// Expected, not yet measured (written without a GPU): at B=256, H=12, S=197, D=64 the backward does
// 10 S^2 D flops per head (76 GFLOP, ~150 us at ~500 TFLOP/s of mma.sync) and moves ~9 x 77.5 MB of
// bf16 (Q, K, V, O, dO twice; dQ, dK, dV) plus ~0.3 GB for the f32 dQ accumulator (zeroing, reading
// back; its 4 atomic adds per element mostly resolve in L2): ~1 GB, ~330 us at ~3 TB/s. The main
// kernel holds ~230 registers per thread at D = 64 (ptxas, no spills), so 2 CTAs = 8 warps per SM.
// Targets from issue 3 on an H100, forward + backward: cuDNN SDPA 860 us, PyTorch's
// FlashAttention-2 1412 us. This is FA2's design, so expect it near FA2; if it is slower, look first
// at the dQ atomics and at occupancy.
#include "kernels/cuda/attention_common.cuh"

namespace iqa::kernels {

namespace cuda_detail::attention {

constexpr int kBwdBlockKV = 16 * kWarps;  // 64 keys per CTA, 16 per warp

template <int D>
constexpr int backward_block_q() {
  return D <= 64 ? 64 : 32;
}

template <int D>
constexpr size_t backward_smem_bytes() {
  constexpr int bq = backward_block_q<D>();
  return size_t(2 * kBwdBlockKV * D      // K and V of the CTA's keys
                + 4 * bq * D             // Q and dO, double-buffered
                + kBwdBlockKV * bq) * 2  // dS^T
         + size_t(4 * bq) * 4;           // lse and Dvec (f32), double-buffered
}

struct BackwardParams {
  const void *q, *k, *v, *out, *grad_out;
  AttentionStrides qs, ks, vs, os, gs;
  const float* lse;  // [B, H, Sq]
  float* dvec;       // [B, H, Sq]
  float* dq_accum;   // [B, H, Sq, D], zeroed before the main kernel
  void *dk, *dv;     // contiguous [B, H, Skv, D]
  int heads, seq_q, seq_kv;
  float scale, scale_log2;
  bool causal;
};

// Dvec_i = sum_d dO_id O_id. D / 8 threads per row, each reading 16 bytes of dO and of O.
template <class T, int D>
__global__ void __launch_bounds__(kThreads) attention_dvec_kernel(BackwardParams p, int64_t rows) {
  constexpr int kLanesPerRow = D / 8;
  constexpr int kRowsPerBlock = kThreads / kLanesPerRow;
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + int(threadIdx.x) / kLanesPerRow;
  const int part = int(threadIdx.x) % kLanesPerRow;
  float acc = 0.f;
  if (row < rows) {
    const int64_t bh = row / p.seq_q, s = row % p.seq_q, b = bh / p.heads, h = bh % p.heads;
    const T* o = head_ptr(static_cast<const T*>(p.out), p.os, b, h) + s * p.os.seq + part * 8;
    const T* go = head_ptr(static_cast<const T*>(p.grad_out), p.gs, b, h) + s * p.gs.seq + part * 8;
    const uint4 ov = *reinterpret_cast<const uint4*>(o), gv = *reinterpret_cast<const uint4*>(go);
    const T* oe = reinterpret_cast<const T*>(&ov);
    const T* ge = reinterpret_cast<const T*>(&gv);
#pragma unroll
    for (int i = 0; i < 8; ++i) acc = fmaf(to_f32(oe[i]), to_f32(ge[i]), acc);
  }
#pragma unroll
  for (int off = kLanesPerRow / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (row < rows && part == 0) p.dvec[row] = acc;
}

// Two adjacent f32 adds; sm_90 has a single vector atomic for them.
__device__ __forceinline__ void atomic_add_pair(float* dst, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(dst), make_float2(a, b));
#else
  atomicAdd(dst, a);
  atomicAdd(dst + 1, b);
#endif
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) attention_backward_kernel(BackwardParams p) {
  constexpr int kBlockQ = backward_block_q<D>();
  using KVTile = SmemTile<kBwdBlockKV, D>;
  using QTile = SmemTile<kBlockQ, D>;
  using DsTile = SmemTile<kBwdBlockKV, kBlockQ>;  // dS^T: rows are keys, columns queries
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* k_smem = reinterpret_cast<T*>(smem_raw);
  T* v_smem = k_smem + KVTile::kElems;
  T* q_smem = v_smem + KVTile::kElems;      // two buffers
  T* do_smem = q_smem + 2 * QTile::kElems;  // two buffers
  T* ds_smem = do_smem + 2 * QTile::kElems;
  float* lse_smem = reinterpret_cast<float*>(ds_smem + DsTile::kElems);  // two buffers of kBlockQ
  float* dvec_smem = lse_smem + 2 * kBlockQ;                               // two buffers of kBlockQ

  const CtaTile cta = cta_tile((p.seq_kv + kBwdBlockKV - 1) / kBwdBlockKV, p.heads);
  const int64_t bh = cta.bh, b = cta.b, h = cta.h;
  const int kv0 = cta.tile * kBwdBlockKV;  // the CTA's keys: kv0 .. kv0 + 63
  const T* q_head = head_ptr(static_cast<const T*>(p.q), p.qs, b, h);
  const T* k_head = head_ptr(static_cast<const T*>(p.k), p.ks, b, h);
  const T* v_head = head_ptr(static_cast<const T*>(p.v), p.vs, b, h);
  const T* do_head = head_ptr(static_cast<const T*>(p.grad_out), p.gs, b, h);
  const float* lse_head = p.lse + bh * p.seq_q;
  const float* dvec_head = p.dvec + bh * p.seq_q;
  float* dq_head = p.dq_accum + bh * p.seq_q * D;

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane >> 2, t = lane & 3;
  const int warp_key0 = warp * 16;  // within the CTA's 64 keys
  const bool warp_has_keys = kv0 + warp_key0 < p.seq_kv;
  // dQ product: warps split the query tile's rows 16 at a time, and the D columns when the tile has
  // fewer than 4 row groups (kBlockQ = 32).
  constexpr int kDqRowGroups = kBlockQ / 16;
  constexpr int kDqCols = D / (kWarps / kDqRowGroups);
  const int dq_row0 = (warp % kDqRowGroups) * 16, dq_col0 = (warp / kDqRowGroups) * kDqCols;

  auto load_query_tile = [&](int i, int buf) {
    const int q0 = i * kBlockQ, valid = min(kBlockQ, p.seq_q - q0);
    load_tile_async<kBlockQ, D>(q_smem + buf * QTile::kElems, q_head, p.qs.seq, q0, p.seq_q);
    load_tile_async<kBlockQ, D>(do_smem + buf * QTile::kElems, do_head, p.gs.seq, q0, p.seq_q);
    load_row_stats_async(lse_smem + buf * kBlockQ, lse_head + q0, kBlockQ, valid);
    load_row_stats_async(dvec_smem + buf * kBlockQ, dvec_head + q0, kBlockQ, valid);
  };
  const int n_qtiles = (p.seq_q + kBlockQ - 1) / kBlockQ;
  // Causal: query tiles whose rows all precede kv0 see none of this CTA's keys.
  const int first_qtile = p.causal ? kv0 / kBlockQ : 0;
  load_tile_async<kBwdBlockKV, D>(k_smem, k_head, p.ks.seq, kv0, p.seq_kv);
  load_tile_async<kBwdBlockKV, D>(v_smem, v_head, p.vs.seq, kv0, p.seq_kv);
  if (first_qtile < n_qtiles) load_query_tile(first_qtile, first_qtile & 1);
  cp_async_commit();

  float dk_acc[D / 8][4], dv_acc[D / 8][4];  // this warp's 16 keys x D
  zero_accumulators(dk_acc);
  zero_accumulators(dv_acc);

  for (int i = first_qtile; i < n_qtiles; ++i) {
    const int buf = i & 1;
    cp_async_wait<0>();
    __syncthreads();  // query tile i has landed for every thread; every warp is done with tile i-1
    if (i + 1 < n_qtiles) {
      load_query_tile(i + 1, buf ^ 1);
      cp_async_commit();
    }
    const T* q_tile = q_smem + buf * QTile::kElems;
    const T* do_tile = do_smem + buf * QTile::kElems;
    const float* lse_tile = lse_smem + buf * kBlockQ;
    const float* dvec_tile = dvec_smem + buf * kBlockQ;
    const int q0 = i * kBlockQ, q_valid = min(kBlockQ, p.seq_q - q0);

    if (warp_has_keys) {
      // S^T = K Q^T: this warp's 16 keys x the tile's queries (block n: queries 8n..8n+7).
      float pt[kBlockQ / 8][4];
      zero_accumulators(pt);
      warp_mma_b_rows_n<T, QTile, kBlockQ / 8, D / 16>(
          pt, [&](uint32_t(&a)[4], int kk) { load_a<KVTile>(a, k_smem, warp_key0, kk * 16); }, q_tile, q_valid);
      // P^T = exp2(S^T * scale * log2e - lse * log2e); exactly 0 for keys or queries past the end, and
      // (causal) for keys after the query.
#pragma unroll
      for (int n = 0; n < kBlockQ / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int qc = n * 8 + 2 * t + (e & 1), key = kv0 + warp_key0 + g + (e >> 1) * 8;
          const bool inside = qc < q_valid && key < p.seq_kv && (!p.causal || key <= q0 + qc);
          pt[n][e] = inside ? exp2f(fmaf(pt[n][e], p.scale_log2, -lse_tile[qc] * kLog2e)) : 0.f;
        }
      // dV += P^T dO (P^T rounded to T, as in the forward's P V).
      warp_mma_b_rows_k<T, QTile, D / 8, kBlockQ / 16>(
          dv_acc, [&](uint32_t(&a)[4], int kc) { accumulators_to_a<T>(a, pt[2 * kc], pt[2 * kc + 1]); }, do_tile, 0,
          q_valid);
      // dP^T = V dO^T, then dS^T = P^T o (dP^T - Dvec) * scale in place.
      float ds[kBlockQ / 8][4];
      zero_accumulators(ds);
      warp_mma_b_rows_n<T, QTile, kBlockQ / 8, D / 16>(
          ds, [&](uint32_t(&a)[4], int kk) { load_a<KVTile>(a, v_smem, warp_key0, kk * 16); }, do_tile, q_valid);
#pragma unroll
      for (int n = 0; n < kBlockQ / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) ds[n][e] = pt[n][e] * (ds[n][e] - dvec_tile[n * 8 + 2 * t + (e & 1)]) * p.scale;
      // dK += dS^T Q.
      warp_mma_b_rows_k<T, QTile, D / 8, kBlockQ / 16>(
          dk_acc, [&](uint32_t(&a)[4], int kc) { accumulators_to_a<T>(a, ds[2 * kc], ds[2 * kc + 1]); }, q_tile, 0,
          q_valid);
      // dS^T to shared memory, rounded to T exactly as the dK product used it.
#pragma unroll
      for (int n = 0; n < kBlockQ / 8; ++n)
#pragma unroll
        for (int r = 0; r < 2; ++r)
          *reinterpret_cast<uint32_t*>(ds_smem + DsTile::offset(warp_key0 + g + 8 * r, n * 8 + 2 * t)) =
              Mma<T>::pack(ds[n][2 * r], ds[n][2 * r + 1]);
    }
    __syncthreads();  // dS^T is complete, and every warp is done reading this buffer's Q and dO

    // dQ += dS K: rows dq_row0.. of the query tile, columns dq_col0.., over the CTA's keys.
    if (q0 + dq_row0 < p.seq_q) {
      float dq_acc[kDqCols / 8][4];
      zero_accumulators(dq_acc);
      // Key blocks past the sequence are skipped: their warps wrote no dS^T rows.
      warp_mma_b_rows_k<T, KVTile, kDqCols / 8, kBwdBlockKV / 16>(
          dq_acc, [&](uint32_t(&a)[4], int kc) { load_a_trans<DsTile>(a, ds_smem, dq_row0, kc * 16); }, k_smem, dq_col0,
          p.seq_kv - kv0);
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = q0 + dq_row0 + g + 8 * r;
        if (row >= p.seq_q) continue;
#pragma unroll
        for (int n = 0; n < kDqCols / 8; ++n)
          atomic_add_pair(dq_head + int64_t(row) * D + dq_col0 + n * 8 + 2 * t, dq_acc[n][2 * r], dq_acc[n][2 * r + 1]);
      }
    }
  }

  cp_async_wait<0>();  // a causal CTA whose keys no query sees never waited on its K and V copies
  if (!warp_has_keys) return;
  T* dk_head = static_cast<T*>(p.dk) + bh * p.seq_kv * D;
  T* dv_head = static_cast<T*>(p.dv) + bh * p.seq_kv * D;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int key = kv0 + warp_key0 + g + 8 * r;
    if (key >= p.seq_kv) continue;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      const int64_t at = int64_t(key) * D + n * 8 + 2 * t;
      *reinterpret_cast<uint32_t*>(dk_head + at) = Mma<T>::pack(dk_acc[n][2 * r], dk_acc[n][2 * r + 1]);
      *reinterpret_cast<uint32_t*>(dv_head + at) = Mma<T>::pack(dv_acc[n][2 * r], dv_acc[n][2 * r + 1]);
    }
  }
}

// dQ = the f32 accumulator rounded to T, four values per thread and step.
template <class T>
__global__ void attention_dq_convert_kernel(const float* acc, T* dq, int64_t n4) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += int64_t(gridDim.x) * blockDim.x) {
    const float4 v = reinterpret_cast<const float4*>(acc)[i];
    reinterpret_cast<uint2*>(dq)[i] = make_uint2(Mma<T>::pack(v.x, v.y), Mma<T>::pack(v.z, v.w));
  }
}

template <class T, int D>
void launch_backward(const BackwardParams& p, int64_t batch_heads, void* dq, cudaStream_t stream) {
  const int64_t rows = batch_heads * p.seq_q;
  constexpr int kRowsPerDvecBlock = kThreads / (D / 8);
  const int64_t dvec_blocks = (rows + kRowsPerDvecBlock - 1) / kRowsPerDvecBlock;
  const int64_t main_blocks = batch_heads * ((p.seq_kv + kBwdBlockKV - 1) / kBwdBlockKV);
  IQA_CHECK(dvec_blocks < (int64_t(1) << 31) && main_blocks < (int64_t(1) << 31),
            "attention_backward: grid too large for B*H=", batch_heads, " Sq=", p.seq_q, " Skv=", p.seq_kv);
  attention_dvec_kernel<T, D><<<unsigned(dvec_blocks), kThreads, 0, stream>>>(p, rows);
  IQA_CUDA_CHECK_LAUNCH();
  constexpr size_t smem = backward_smem_bytes<D>();
  allow_dynamic_smem(attention_backward_kernel<T, D>, smem);
  attention_backward_kernel<T, D><<<unsigned(main_blocks), kThreads, smem, stream>>>(p);
  IQA_CUDA_CHECK_LAUNCH();
  const int64_t n4 = rows * D / 4;
  attention_dq_convert_kernel<T><<<grid_for(n4, 256), 256, 0, stream>>>(p.dq_accum, static_cast<T*>(dq), n4);
  IQA_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_backward_dim(int64_t head_dim, const BackwardParams& p, int64_t batch_heads, void* dq,
                         cudaStream_t stream) {
  switch (head_dim) {
    case 32: launch_backward<T, 32>(p, batch_heads, dq, stream); break;
    case 64: launch_backward<T, 64>(p, batch_heads, dq, stream); break;
    case 128: launch_backward<T, 128>(p, batch_heads, dq, stream); break;
    default: fail(cat("attention_backward (CUDA): head dim ", head_dim, " is not 32, 64 or 128"));
  }
}

}  // namespace cuda_detail::attention

namespace cuda {

int64_t attention_backward_workspace_floats(const AttentionShape& s) {
  return s.batch * s.heads * s.seq_q * (s.head_dim + 1);
}

void attention_backward(const AttentionBackwardArgs& args, float* workspace, cudaStream_t stream) {
  using namespace cuda_detail::attention;
  const AttentionShape shape = attention_shape(args, "attention_backward (CUDA)");
  IQA_CHECK(attention_supported(args.dtype, shape.head_dim),
            "attention_backward (CUDA): needs bf16/f16 and head dim 32/64/128, got ", dtype_name(args.dtype), " and ",
            shape.head_dim);
  IQA_CHECK(shape.scale > 0, "attention_backward (CUDA): scale must be positive, got ", shape.scale);
  IQA_CHECK(shape.seq_q < (int64_t(1) << 30) && shape.seq_kv < (int64_t(1) << 30) && shape.heads < (int64_t(1) << 30),
            "attention_backward (CUDA): sequence or head count too large");
  IQA_CHECK(attention_operand_aligned(args.q) && attention_operand_aligned(args.k) &&
                attention_operand_aligned(args.v) && attention_operand_aligned(args.out) &&
                attention_operand_aligned(args.grad_out) && attention_operand_aligned(args.dq) &&
                attention_operand_aligned(args.dk) && attention_operand_aligned(args.dv) &&
                reinterpret_cast<uintptr_t>(workspace) % 16 == 0,
            "attention_backward (CUDA): operands must be 16-byte aligned with strides a multiple of 8");
  const int64_t batch_heads = shape.batch * shape.heads;
  if (batch_heads == 0) return;
  const size_t kv_bytes = size_t(batch_heads * shape.seq_kv * shape.head_dim) * 2;
  if (shape.seq_q == 0) {  // no queries: nothing flows back to the keys and values
    IQA_CUDA_CHECK(cudaMemsetAsync(args.dk.data, 0, kv_bytes, stream));
    IQA_CUDA_CHECK(cudaMemsetAsync(args.dv.data, 0, kv_bytes, stream));
    return;
  }
  float* dq_accum = workspace;
  float* dvec = workspace + batch_heads * shape.seq_q * shape.head_dim;
  IQA_CUDA_CHECK(cudaMemsetAsync(dq_accum, 0, size_t(batch_heads * shape.seq_q * shape.head_dim) * 4, stream));
  const BackwardParams p{args.q.data,
                         args.k.data,
                         args.v.data,
                         args.out.data,
                         args.grad_out.data,
                         attention_strides(args.q),
                         attention_strides(args.k),
                         attention_strides(args.v),
                         attention_strides(args.out),
                         attention_strides(args.grad_out),
                         static_cast<const float*>(args.logsumexp.data),
                         dvec,
                         dq_accum,
                         args.dk.data,
                         args.dv.data,
                         int(shape.heads),
                         int(shape.seq_q),
                         int(shape.seq_kv),
                         float(shape.scale),
                         float(shape.scale * double(kLog2e)),
                         shape.causal};
  void* dq = args.dq.data;
  if (args.dtype == DType::BF16) launch_backward_dim<__nv_bfloat16>(shape.head_dim, p, batch_heads, dq, stream);
  else launch_backward_dim<__half>(shape.head_dim, p, batch_heads, dq, stream);
}

}  // namespace cuda

}  // namespace iqa::kernels
