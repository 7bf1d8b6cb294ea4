// Fused attention forward on tensor cores (FlashAttention-2 style), bf16/f16 in and out, f32 inside.
//
// One CTA = 4 warps = 64 query rows of one (batch, head); each warp owns 16 query rows for the whole
// kernel. The CTA walks the keys in tiles of 64:
//   S = Q K^T           16 x 64 per warp, mma.m16n8k16, Q fragments kept in registers
//   online softmax      running row max m and sum l in f32 (exp2f on log2(e)-prescaled scores)
//   O = O * alpha + P V P goes from the S accumulators straight into A fragments (no shared memory)
// K and V tiles are double-buffered in shared memory with cp.async, so tile j+1 loads while tile j is
// multiplied; one __syncthreads per tile. At the end O /= l and lse = (m + log2 l) * ln 2 is saved.
//
// Causal (kernels/attention.h: query i sees keys j <= i): the CTA stops at the last key tile its
// last row sees, so tiles wholly above the diagonal are never loaded; within a tile a warp skips the
// 16-key pairs past its own last row (the same warp-uniform skip as past the sequence) and masks the
// diagonal elements key > row to -inf. Key 0 lies in tile 0 and every row sees it, so no row's
// running max stays -inf.
//
// Tile shape and the 197-token case (ViT-B/16). A 64-row query tile computes 197 rows as 256, and a
// 64-key tile computes 197 keys as 256 as well: 1.69x the useful work if nothing were skipped. Two
// skips bring that to ~1.1x without smaller tiles:
//   - a warp whose 16 query rows all lie past the sequence skips its math (it still helps load the
//     tiles): 197 rows cost 13 warps = 208 rows, not 256;
//   - in the last key tile, pairs of 8-key blocks that lie wholly past the sequence are skipped in
//     both products (warp-uniform branches): 197 keys cost 192 + 16 = 208, not 256.
// Expected, not yet measured (this was written without a GPU): at B=256, H=12, S=197, D=64 the
// forward moves 4 x 77.5 MB (Q, K, V, O), ~100 us at ~3 TB/s, and does 30.5 GFLOP, ~60 us at the
// ~500 TFLOP/s mma.sync tends to reach on an H100, so it is bound by memory plus the softmax's
// exp2/max work. Targets from issue 3 on an H100 at that shape: cuDNN SDPA 207 us forward, PyTorch's
// FlashAttention-2 272 us; expect this kernel between the two. Resources (ptxas, sm_90, no spills):
// 128 registers per thread and 40 KB of shared memory at D = 64, so 4 CTAs = 16 warps per SM; 223
// registers and 80 KB at D = 128. What would move it next: 128 query rows per CTA (K and V read
// from L2 half as often), wgmma on sm_90a.
#include "kernels/cuda/attention_common.cuh"

namespace iqa::kernels {

namespace cuda_detail::attention {

constexpr int kFwdBlockQ = 16 * kWarps;  // 64 query rows per CTA
constexpr int kFwdBlockKV = 64;          // keys per tile

struct ForwardParams {
  const void *q, *k, *v;
  void* out;
  AttentionStrides qs, ks, vs, os;
  float* lse;  // [B, H, Sq]
  int heads, seq_q, seq_kv;
  float scale_log2;  // scale * log2(e): scores go straight into exp2f
  bool causal;
};

template <int D>
constexpr size_t forward_smem_bytes() {
  return size_t(kFwdBlockQ + 4 * kFwdBlockKV) * D * 2;  // Q, and K and V twice each (double buffer), 16-bit
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(ForwardParams p) {
  using QTile = SmemTile<kFwdBlockQ, D>;
  using KVTile = SmemTile<kFwdBlockKV, D>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* q_smem = reinterpret_cast<T*>(smem_raw);
  T* k_smem = q_smem + QTile::kElems;      // two buffers of KVTile::kElems
  T* v_smem = k_smem + 2 * KVTile::kElems;  // two buffers

  const CtaTile cta = cta_tile((p.seq_q + kFwdBlockQ - 1) / kFwdBlockQ, p.heads);
  const int64_t bh = cta.bh, b = cta.b, h = cta.h;
  const int q0 = cta.tile * kFwdBlockQ;  // the CTA's query rows: q0 .. q0 + 63
  const T* q_head = head_ptr(static_cast<const T*>(p.q), p.qs, b, h);
  const T* k_head = head_ptr(static_cast<const T*>(p.k), p.ks, b, h);
  const T* v_head = head_ptr(static_cast<const T*>(p.v), p.vs, b, h);

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane >> 2, t = lane & 3;  // accumulator row group and column pair (see attention_common.cuh)
  const int warp_row0 = warp * 16;        // within the tile
  const bool warp_has_rows = q0 + warp_row0 < p.seq_q;

  load_tile_async<kFwdBlockQ, D>(q_smem, q_head, p.qs.seq, q0, p.seq_q);
  load_tile_async<kFwdBlockKV, D>(k_smem, k_head, p.ks.seq, 0, p.seq_kv);
  load_tile_async<kFwdBlockKV, D>(v_smem, v_head, p.vs.seq, 0, p.seq_kv);
  cp_async_commit();

  uint32_t q_frag[D / 16][4];
  float o_acc[D / 8][4];  // 16 rows x D of O per warp: block n covers columns 8n..8n+7
  zero_accumulators(o_acc);
  // Rows g and g+8 of the warp's 16: running max (of scores times scale*log2e) and this thread's
  // share of the running sum (its 2 columns per block; the 4 threads of a row add up at the end).
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};

  // Causal: the CTA's last row, q0 + 63, sees keys up to itself; later key tiles are never loaded.
  const int kv_end = p.causal ? min(p.seq_kv, q0 + kFwdBlockQ) : p.seq_kv;
  const int n_kvtiles = (kv_end + kFwdBlockKV - 1) / kFwdBlockKV;
  for (int j = 0; j < n_kvtiles; ++j) {
    cp_async_wait<0>();
    __syncthreads();  // tile j is in shared memory for every thread, and every warp is done with tile j-1
    if (j + 1 < n_kvtiles) {  // prefetch tile j+1 into the buffer tile j-1 used
      const int nb = (j + 1) & 1;
      load_tile_async<kFwdBlockKV, D>(k_smem + nb * KVTile::kElems, k_head, p.ks.seq, (j + 1) * kFwdBlockKV, p.seq_kv);
      load_tile_async<kFwdBlockKV, D>(v_smem + nb * KVTile::kElems, v_head, p.vs.seq, (j + 1) * kFwdBlockKV, p.seq_kv);
      cp_async_commit();
    }
    if (!warp_has_rows) continue;
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) load_a<QTile>(q_frag[kk], q_smem, warp_row0, kk * 16);
    }
    const T* k_tile = k_smem + (j & 1) * KVTile::kElems;
    const T* v_tile = v_smem + (j & 1) * KVTile::kElems;
    const int kv_valid = min(kFwdBlockKV, p.seq_kv - j * kFwdBlockKV);  // keys of this tile inside the sequence
    // Keys of this tile the warp's rows may see: causal cuts them at its last row. Warp-uniform.
    const int warp_last_row = q0 + warp_row0 + 15;
    const int kv_seen = p.causal ? min(kv_valid, warp_last_row + 1 - j * kFwdBlockKV) : kv_valid;
    if (kv_seen <= 0) continue;  // the whole tile lies above this warp's diagonal (never tile 0)
    const bool on_diagonal = p.causal && j * kFwdBlockKV + kv_seen - 1 > q0 + warp_row0;

    // S = Q K^T for this warp's 16 rows and the tile's 64 keys (block n: keys 8n..8n+7).
    float s[kFwdBlockKV / 8][4];
    zero_accumulators(s);
    warp_mma_b_rows_n<T, KVTile, kFwdBlockKV / 8, D / 16>(
        s, [&](uint32_t(&a)[4], int kk) { copy_fragment(a, q_frag[kk]); },
        k_tile, kv_seen);
    if (kv_valid < kFwdBlockKV || on_diagonal) {  // keys past the end, or after the row, get probability 0
#pragma unroll
      for (int n = 0; n < kFwdBlockKV / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = n * 8 + 2 * t + (e & 1), row = q0 + warp_row0 + g + 8 * (e >> 1);
          if (key >= kv_valid || (on_diagonal && j * kFwdBlockKV + key > row)) s[n][e] = -INFINITY;
        }
    }

    // Online softmax: rescale what was accumulated under the old max, then P = exp2(S*c - m).
#pragma unroll
    for (int r = 0; r < 2; ++r) {  // r = 0: row g (elements 0, 1); r = 1: row g + 8 (elements 2, 3)
      float tile_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < kFwdBlockKV / 8; ++n) tile_max = fmaxf(tile_max, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      const float new_max = fmaxf(row_max[r], quad_max(tile_max) * p.scale_log2);
      // A row that has seen only -inf scores (possible only with infinite inputs) keeps a 0 offset
      // instead of computing -inf - (-inf) = NaN.
      const float offset = new_max == -INFINITY ? 0.f : new_max;
      const float alpha = exp2f(row_max[r] - offset);  // 0 on the first tile (row_max = -inf)
      row_max[r] = new_max;
      row_sum[r] *= alpha;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o_acc[n][2 * r] *= alpha;
        o_acc[n][2 * r + 1] *= alpha;
      }
#pragma unroll
      for (int n = 0; n < kFwdBlockKV / 8; ++n) {
        s[n][2 * r] = exp2f(fmaf(s[n][2 * r], p.scale_log2, -offset));
        s[n][2 * r + 1] = exp2f(fmaf(s[n][2 * r + 1], p.scale_log2, -offset));
        row_sum[r] += s[n][2 * r] + s[n][2 * r + 1];
      }
    }

    // O += P V: P (16 x 64, rounded to T like FlashAttention does) against the V tile.
    warp_mma_b_rows_k<T, KVTile, D / 8, kFwdBlockKV / 16>(
        o_acc, [&](uint32_t(&a)[4], int kc) { accumulators_to_a<T>(a, s[2 * kc], s[2 * kc + 1]); }, v_tile, 0,
        kv_seen);
  }

  if (!warp_has_rows) return;
  // Epilogue: normalise, write O (4-byte stores straight from registers; each CTA writes its 64 rows
  // once, so staging through shared memory for wider stores would buy little) and the logsumexp.
  T* o_head = head_ptr(static_cast<T*>(p.out), p.os, b, h);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = q0 + warp_row0 + g + 8 * r;
    const float total = quad_sum(row_sum[r]);
    if (row >= p.seq_q) continue;
    const float inv = 1.f / total;
    T* o_row = o_head + int64_t(row) * p.os.seq;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      const uint32_t packed = Mma<T>::pack(o_acc[n][2 * r] * inv, o_acc[n][2 * r + 1] * inv);
      *reinterpret_cast<uint32_t*>(o_row + n * 8 + 2 * t) = packed;
    }
    if (t == 0) p.lse[bh * p.seq_q + row] = (row_max[r] + log2f(total)) * kLn2;
  }
}

template <class T, int D>
void launch_forward(const ForwardParams& p, int64_t batch_heads, cudaStream_t stream) {
  const int64_t blocks = batch_heads * ((p.seq_q + kFwdBlockQ - 1) / kFwdBlockQ);
  IQA_CHECK(blocks < (int64_t(1) << 31), "attention_forward: ", blocks, " blocks exceed the grid limit");
  constexpr size_t smem = forward_smem_bytes<D>();
  allow_dynamic_smem(attention_forward_kernel<T, D>, smem);
  attention_forward_kernel<T, D><<<unsigned(blocks), kThreads, smem, stream>>>(p);
  IQA_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_forward_dim(int64_t head_dim, const ForwardParams& p, int64_t batch_heads, cudaStream_t stream) {
  switch (head_dim) {
    case 32: launch_forward<T, 32>(p, batch_heads, stream); break;
    case 64: launch_forward<T, 64>(p, batch_heads, stream); break;
    case 128: launch_forward<T, 128>(p, batch_heads, stream); break;
    default: fail(cat("attention_forward (CUDA): head dim ", head_dim, " is not 32, 64 or 128"));
  }
}

}  // namespace cuda_detail::attention

namespace cuda {

void attention_forward(const AttentionForwardArgs& args, cudaStream_t stream) {
  using namespace cuda_detail::attention;
  const AttentionShape shape = attention_shape(args, "attention_forward (CUDA)");
  IQA_CHECK(attention_supported(args.dtype, shape.head_dim),
            "attention_forward (CUDA): needs bf16/f16 and head dim 32/64/128, got ", dtype_name(args.dtype), " and ",
            shape.head_dim);
  IQA_CHECK(shape.seq_q < (int64_t(1) << 30) && shape.seq_kv < (int64_t(1) << 30) && shape.heads < (int64_t(1) << 30),
            "attention_forward (CUDA): sequence or head count too large");
  // The row max is taken on raw scores and scaled afterwards, which needs a positive scale.
  IQA_CHECK(shape.scale > 0, "attention_forward (CUDA): scale must be positive, got ", shape.scale);
  IQA_CHECK(attention_operand_aligned(args.q) && attention_operand_aligned(args.k) &&
                attention_operand_aligned(args.v) && attention_operand_aligned(args.out),
            "attention_forward (CUDA): operands must be 16-byte aligned with strides a multiple of 8");
  const int64_t batch_heads = shape.batch * shape.heads;
  if (batch_heads == 0 || shape.seq_q == 0) return;
  const ForwardParams p{args.q.data,
                        args.k.data,
                        args.v.data,
                        args.out.data,
                        attention_strides(args.q),
                        attention_strides(args.k),
                        attention_strides(args.v),
                        attention_strides(args.out),
                        static_cast<float*>(args.logsumexp.data),
                        int(shape.heads),
                        int(shape.seq_q),
                        int(shape.seq_kv),
                        float(shape.scale * double(kLog2e)),
                        shape.causal};
  if (args.dtype == DType::BF16) launch_forward_dim<__nv_bfloat16>(shape.head_dim, p, batch_heads, stream);
  else launch_forward_dim<__half>(shape.head_dim, p, batch_heads, stream);
}

}  // namespace cuda

}  // namespace iqa::kernels
