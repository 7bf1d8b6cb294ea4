// AVX2 passes of the PIL-exact resize (see augment_resize_simd.h).
#include "training/image/augment_resize_simd.h"

#include <cstring>

#include "engine/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define IQA_RESIZE_AVX2 1
#include <immintrin.h>
#endif

namespace iqa::resize_simd {

constexpr int kBits = kernels::kPilPrecisionBits;
constexpr int32_t kHalf = 1 << (kBits - 1);

RgbPairTaps rgb_pair_taps(const kernels::PilTaps& t) {
  RgbPairTaps p;
  const size_t outputs = t.first.size();
  p.max_pairs = (t.max_taps + 1) / 2;
  p.first.assign(t.first.begin(), t.first.end());
  p.pairs.resize(outputs);
  p.weights.assign(outputs * size_t(p.max_pairs) * 8, 0);
  for (size_t o = 0; o < outputs; ++o) {
    p.pairs[o] = (t.count[o] + 1) / 2;
    const int32_t* w = t.weights.data() + o * size_t(t.max_taps);
    int32_t* dst = p.weights.data() + o * size_t(p.max_pairs) * 8;
    for (int k = 0; k < t.count[o]; ++k)
      for (int c = 0; c < 3; ++c) dst[(k / 2) * 8 + (k % 2) * 4 + c] = w[k];
  }
  return p;
}

#ifdef IQA_RESIZE_AVX2

bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

// (acc >> 22) saturated to 0..255 equals clip_fixed(acc): a negative sum shifts to <= 0 and one of
// 255 << 22 or more shifts to >= 255. packs/packus saturate exactly so.
__attribute__((target("avx2"))) void horizontal_row_rgb_avx2(const uint8_t* src, uint8_t* dst,
                                                              const RgbPairTaps& t) {
  // Bytes R0 G0 B0 R1 G1 B1 of two adjacent pixels -> R0 G0 B0 - R1 G1 B1 - (zeroed '-').
  const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i half = _mm_set1_epi32(kHalf);
  const size_t outputs = t.first.size();
  for (size_t o = 0; o < outputs; ++o) {
    const uint8_t* p = src + size_t(t.first[o]) * 3;
    const __m256i* w = reinterpret_cast<const __m256i*>(t.weights.data() + o * size_t(t.max_pairs) * 8);
    __m256i acc = _mm256_setzero_si256();
    for (int j = 0; j < t.pairs[o]; ++j, p += 6) {
      const __m128i bytes = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), spread);
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(bytes), _mm256_loadu_si256(w + j)));
    }
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    sum = _mm_srai_epi32(_mm_add_epi32(sum, half), kBits);
    const __m128i packed = _mm_packus_epi16(_mm_packs_epi32(sum, sum), sum);
    const int32_t rgbx = _mm_cvtsi128_si32(packed);
    std::memcpy(dst + 3 * o, &rgbx, 4);  // the fourth byte is overwritten by the next output (or scratch)
  }
}

__attribute__((target("avx2"))) void vertical_row_avx2(const uint8_t* const* rows, const int32_t* w, int taps,
                                                        uint8_t* dst, size_t length) {
  const __m256i half = _mm256_set1_epi32(kHalf);
  for (size_t i = 0; i < length; i += 16) {
    __m256i a = half, b = half;
    for (int k = 0; k < taps; ++k) {
      const __m256i wk = _mm256_set1_epi32(w[k]);
      const __m128i px = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[k] + i));
      a = _mm256_add_epi32(a, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(px), wk));
      b = _mm256_add_epi32(b, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(px, 8)), wk));
    }
    a = _mm256_srai_epi32(a, kBits);
    b = _mm256_srai_epi32(b, kBits);
    // packs works within 128-bit lanes: (a0 b0 | a1 b1) -> permute to a0 a1 b0 b1 order.
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), bytes);
  }
}

#else

// Never called: the resize runs its scalar passes when have_avx2() is false.
bool have_avx2() { return false; }
void horizontal_row_rgb_avx2(const uint8_t*, uint8_t*, const RgbPairTaps&) {
  fail("horizontal_row_rgb_avx2: not compiled for this target");
}
void vertical_row_avx2(const uint8_t* const*, const int32_t*, int, uint8_t*, size_t) {
  fail("vertical_row_avx2: not compiled for this target");
}

#endif

}  // namespace iqa::resize_simd
