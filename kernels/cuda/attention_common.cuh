// Building blocks shared by the attention kernels (attention_forward.cu, attention_backward.cu):
// swizzled shared-memory tiles, cp.async copies, ldmatrix fragment loads, the m16n8k16 tensor-core
// product and the two warp-level products (warp_mma_b_rows_n / _k) every GEMM of both kernels is.
// Reading order: kernels/attention.h (the math and the arguments), then attention_forward.cu (64 query
// rows x 64-key tiles, online softmax), then attention_backward.cu (64 keys per CTA, query tiles of
// 64 or 32), with this file for the helpers they name.
// Every fragment layout below is the one the PTX ISA documents for mma.m16n8k16 with 16-bit operands
// and f32 accumulators; with lane = 4 * g + t (g = lane / 4, t = lane % 4):
//   A (16 x 16, row-major) a[0]: row g,   cols 2t, 2t+1      a[1]: row g+8, cols 2t, 2t+1
//                          a[2]: row g,   cols 2t+8, 2t+9    a[3]: row g+8, cols 2t+8, 2t+9
//   B (16 x 8)             b[0]: rows 2t, 2t+1 of col g      b[1]: rows 2t+8, 2t+9 of col g
//   C (16 x 8, f32)        c[0], c[1]: row g, cols 2t, 2t+1  c[2], c[3]: row g+8, cols 2t, 2t+1
// Two 16-bit values share one 32-bit register, the lower column (or row, for B) in the low half.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/attention.h"
#include "kernels/cuda/dtype_io.cuh"

namespace iqa::kernels::cuda_detail::attention {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// ---- shared-memory tiles -------------------------------------------------------------------------
// A [ROWS, COLS] tile of 16-bit values, row-major, whose 16-byte chunks are permuted within each row.
// Why: ldmatrix reads eight 16-byte rows at the same column at once. With 128-byte rows (COLS = 64)
// all eight would sit in the same four banks, an 8-way conflict. XOR-ing the chunk index with the row
// spreads any eight consecutive rows over all 32 banks. With 64-byte rows (COLS = 32) two rows share
// a 128-byte bank line, so the XOR key is row / 2 and takes 2 bits. The permutation never leaves a row,
// so cp.async writes of whole rows stay conflict-free too.
template <int ROWS, int COLS>
struct SmemTile {
  static_assert(COLS == 32 || COLS == 64 || COLS == 128, "tile rows are 32, 64 or 128 values");
  static constexpr int kChunks = COLS / 8;  // 16-byte chunks per row
  static constexpr int kElems = ROWS * COLS;
  // Element offset of (row, col); col may point inside a chunk.
  __device__ __forceinline__ static int offset(int row, int col) {
    const int key = kChunks >= 8 ? (row & 7) : ((row >> 1) & 3);
    return row * COLS + ((((col >> 3) ^ key)) << 3) + (col & 7);
  }
};

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- asynchronous global -> shared copies (sm_80+) -----------------------------------------------
// `valid == false` copies nothing and zero-fills the destination (src-size operand 0): rows past the
// end of the sequence read as zeros, never as garbage (0 * NaN would poison P V).
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_4(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most N of this thread's committed groups are still in flight. Other threads' copies
// become visible only after a __syncthreads() that follows.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Copies rows [row0, row0 + ROWS) of one head's [rows_total, COLS] operand (row stride `row_stride`
// elements, 16-byte aligned) into a swizzled tile; rows at or past rows_total are zero-filled.
// Consecutive threads take consecutive 16-byte chunks of a row, so global reads coalesce.
template <int ROWS, int COLS, class T>
__device__ __forceinline__ void load_tile_async(T* tile, const T* head, int64_t row_stride, int row0,
                                                int rows_total) {
  using Tile = SmemTile<ROWS, COLS>;
  constexpr int kCopies = ROWS * Tile::kChunks;
  static_assert(kCopies % kThreads == 0, "every thread issues the same number of copies");
#pragma unroll
  for (int i = 0; i < kCopies / kThreads; ++i) {
    const int chunk = i * kThreads + int(threadIdx.x);
    const int r = chunk / Tile::kChunks, col = (chunk % Tile::kChunks) * 8;
    const bool valid = row0 + r < rows_total;
    const T* src = valid ? head + int64_t(row0 + r) * row_stride + col : head;
    cp_async_16(tile + Tile::offset(r, col), src, valid);
  }
}

// Copies `count` f32 values (e.g. a tile's logsumexp) into shared memory, zero-filling past `valid`.
__device__ __forceinline__ void load_row_stats_async(float* dst, const float* src, int count, int valid) {
  for (int i = int(threadIdx.x); i < count; i += kThreads) cp_async_4(dst + i, i < valid ? src + i : src, i < valid);
}

// ---- ldmatrix: 8x8 16-bit matrices from shared memory into mma fragments -----------------------------
// Lanes 8i..8i+7 give the row addresses of matrix i; register i receives matrix i, thread (4g + t)
// holding row g, columns 2t and 2t+1 (with .trans: column g, rows 2t and 2t+1).
// volatile: the same address holds a different tile on every loop iteration.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(smem)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(smem)));
}

// The four loads every product below is built from. `Tile` is the SmemTile type of `tile`.
// A[m][k] for m in [m0, m0+16), k in [k0, k0+16), from a tile whose rows are m (tile[m][k]).
template <class Tile, class T>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const T* tile, int m0, int k0) {
  const int lane = int(threadIdx.x) & 31;
  ldmatrix_x4(a, tile + Tile::offset(m0 + (lane & 15), k0 + (lane >> 4) * 8));
}
// The same A from a tile whose rows are k (A[m][k] = tile[k][m]).
template <class Tile, class T>
__device__ __forceinline__ void load_a_trans(uint32_t (&a)[4], const T* tile, int m0, int k0) {
  const int lane = int(threadIdx.x) & 31;
  ldmatrix_x4_trans(a, tile + Tile::offset(k0 + (lane & 7) + ((lane >> 4) << 3), m0 + ((lane >> 3) & 1) * 8));
}
// B for two 8-column blocks n0 and n0+8 (b[0], b[1] and b[2], b[3]), k in [k0, k0+16), from a tile
// whose rows are n (B[k][n] = tile[n][k]; K in Q K^T).
template <class Tile, class T>
__device__ __forceinline__ void load_b_pair(uint32_t (&b)[4], const T* tile, int n0, int k0) {
  const int lane = int(threadIdx.x) & 31;
  ldmatrix_x4(b, tile + Tile::offset(n0 + (lane & 7) + ((lane >> 4) << 3), k0 + ((lane >> 3) & 1) * 8));
}
// The same two B blocks from a tile whose rows are k (B[k][n] = tile[k][n]; V in P V).
template <class Tile, class T>
__device__ __forceinline__ void load_b_pair_trans(uint32_t (&b)[4], const T* tile, int k0, int n0) {
  const int lane = int(threadIdx.x) & 31;
  ldmatrix_x4_trans(b, tile + Tile::offset(k0 + (lane & 7) + ((lane >> 3) & 1) * 8, n0 + (lane >> 4) * 8));
}

// ---- the tensor-core product and 16-bit packing ----------------------------------------------------
// One m16n8k16 instruction, its mnemonic spelt for the 16-bit type `type` ("bf16" or "f16").
#define IQA_ATTENTION_MMA(type)                                                                               \
  asm("mma.sync.aligned.m16n8k16.row.col.f32." type "." type ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "      \
      "{%8, %9}, {%0, %1, %2, %3};\n"                                                                          \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                                        \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1))

template <class T>
struct Mma {
  static_assert(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>, "bf16 or f16 only");
  static constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  // d += a * b on a 16 x 8 x 16 block, f32 accumulate.
  __device__ __forceinline__ static void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (kBf16) IQA_ATTENTION_MMA("bf16");
    else IQA_ATTENTION_MMA("f16");
  }
  // Two values rounded to T in one register, `lo` in the low half (.x).
  __device__ __forceinline__ static uint32_t pack(float lo, float hi) {
    uint32_t u;
    if constexpr (kBf16) {
      const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
      memcpy(&u, &v, 4);
    } else {
      const __half2 v = __floats2half2_rn(lo, hi);
      memcpy(&u, &v, 4);
    }
    return u;
  }
};
#undef IQA_ATTENTION_MMA

// Two accumulator blocks (columns 16c..16c+7 and 16c+8..16c+15 of a 16-row C) are, register for
// register, the A fragment of columns 16c..16c+15: this is how P (or dS) feeds the next product
// without a trip through shared memory.
template <class T>
__device__ __forceinline__ void accumulators_to_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = Mma<T>::pack(lo[0], lo[1]);
  a[1] = Mma<T>::pack(lo[2], lo[3]);
  a[2] = Mma<T>::pack(hi[0], hi[1]);
  a[3] = Mma<T>::pack(hi[2], hi[3]);
}

// Max / sum over the four threads (t = 0..3) that hold one accumulator row.
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// ---- the two warp-level products every attention GEMM is ----------------------------------------------
// Each warp multiplies a 16-row A (fragments from `load_a(a, kk)`, k-step kk covering k in [16kk, 16kk+16))
// by a B held in a shared-memory tile, into 16 x (8 * NB) accumulators `acc` (block n: columns 8n..8n+7).
// Column (or k) pairs of 16 at or past `valid` are skipped: they lie past the end of the sequence, and
// the branch is warp-uniform.
//
// B's tile rows are the output columns n (B[k][n] = b_tile[n][k]): K in Q K^T, Q in K Q^T, dO in V dO^T.
// KS k-steps; column pairs 16np.. with 16np >= valid are skipped.
template <class T, class BTile, int NB, int KS, class LoadA>
__device__ __forceinline__ void warp_mma_b_rows_n(float (&acc)[NB][4], LoadA&& load_a, const T* b_tile, int valid) {
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    uint32_t a[4];
    load_a(a, kk);
#pragma unroll
    for (int np = 0; np < NB / 2; ++np) {
      if (np * 16 >= valid) continue;
      uint32_t b[4];
      load_b_pair<BTile>(b, b_tile, np * 16, kk * 16);
      Mma<T>::run(acc[2 * np], a, b[0], b[1]);
      Mma<T>::run(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}
// B's tile rows are the reduction index k (B[k][n] = b_tile[k][n0 + n]): V in P V, dO in P^T dO, Q in
// dS^T Q, K in dS K. KS k-steps; k-steps 16kk.. with 16kk >= valid are skipped.
template <class T, class BTile, int NB, int KS, class LoadA>
__device__ __forceinline__ void warp_mma_b_rows_k(float (&acc)[NB][4], LoadA&& load_a, const T* b_tile, int n0,
                                                  int valid) {
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    if (kk * 16 >= valid) continue;
    uint32_t a[4];
    load_a(a, kk);
#pragma unroll
    for (int np = 0; np < NB / 2; ++np) {
      uint32_t b[4];
      load_b_pair_trans<BTile>(b, b_tile, kk * 16, n0 + np * 16);
      Mma<T>::run(acc[2 * np], a, b[0], b[1]);
      Mma<T>::run(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

__device__ __forceinline__ void copy_fragment(uint32_t (&dst)[4], const uint32_t (&src)[4]) {
  dst[0] = src[0], dst[1] = src[1], dst[2] = src[2], dst[3] = src[3];
}

// Zeroes a warp's accumulator blocks.
template <int NB>
__device__ __forceinline__ void zero_accumulators(float (&acc)[NB][4]) {
#pragma unroll
  for (int n = 0; n < NB; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
}

// The (batch, head) and tile a CTA owns. The grid walks the tiles of one head as consecutive blocks,
// so they run together and meet the head's other operands in L2.
struct CtaTile {
  int64_t bh, b, h;  // bh = b * heads + h
  int tile;          // index of the tile within the head
};
__device__ __forceinline__ CtaTile cta_tile(int tiles_per_head, int heads) {
  const int64_t bh = int64_t(blockIdx.x) / tiles_per_head;
  return {bh, bh / heads, bh % heads, int(blockIdx.x % tiles_per_head)};
}

// First element of head (b, h) of a strided [B, H, S, D] operand.
template <class T>
__device__ __forceinline__ T* head_ptr(T* base, AttentionStrides st, int64_t b, int64_t h) {
  return base + b * st.batch + h * st.head;
}

// Raises a kernel's dynamic shared-memory limit when it needs more than the default 48 KB.
template <class Kernel>
inline void allow_dynamic_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024) IQA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

}  // namespace iqa::kernels::cuda_detail::attention
