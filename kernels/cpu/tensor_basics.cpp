#include "kernels/tensor_basics.h"

#include <cstring>

#include "kernels/cpu/scalar_io.h"
#include "kernels/philox.h"

namespace iqa::kernels::cpu {

namespace {
bool is_contiguous(const StridedLayout& l) {
  int64_t expect = 1;
  for (int d = l.ndim - 1; d >= 0; --d) {
    if (l.shape[d] != 1 && l.strides[d] != expect) return false;
    expect *= l.shape[d];
  }
  return true;
}
}  // namespace

void copy_cast(const void* src, DType st, const StridedLayout& sl, void* dst, DType dt, const StridedLayout& dl,
               int64_t n) {
  const bool contiguous = is_contiguous(sl);
  if (!is_contiguous(dl)) {  // strided destination: the slow general path
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i)
      store_from_double(dst, dt, strided_offset(dl, i), load_as_double(src, st, strided_offset(sl, i)));
    return;
  }
  if (contiguous && st == dt) {
    std::memcpy(dst, src, size_t(n) * dtype_size(dt));
    return;
  }
  if (st == DType::F32 && dt == DType::F32) {  // the common strided f32 copy, without double detour
    const float* s = static_cast<const float*>(src);
    float* d = static_cast<float*>(dst);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = s[strided_offset(sl, i)];
    return;
  }
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = contiguous ? i : strided_offset(sl, i);
    store_from_double(dst, dt, i, load_as_double(src, st, off));
  }
}

void fill(void* dst, DType t, int64_t n, double v) {
  if (t == DType::F32) {
    float* d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = float(v);
    return;
  }
  for (int64_t i = 0; i < n; ++i) store_from_double(dst, t, i, v);
}

void arange(void* dst, DType t, int64_t n, double start, double step) {
  for (int64_t i = 0; i < n; ++i) store_from_double(dst, t, i, start + double(i) * step);
}

void fill_uniform(void* dst, DType t, int64_t n, uint64_t seed, uint64_t offset) {
  if (t == DType::F32) {  // the common case, without the per-element dtype switch
    float* d = static_cast<float*>(dst);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = philox::uniform(seed, offset + uint64_t(i));
    return;
  }
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) store_from_double(dst, t, i, philox::uniform(seed, offset + uint64_t(i)));
}

void fill_normal(void* dst, DType t, int64_t n, uint64_t seed, uint64_t offset) {
  if (t == DType::F32) {
    float* d = static_cast<float*>(dst);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = philox::normal(seed, offset + uint64_t(i));
    return;
  }
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) store_from_double(dst, t, i, philox::normal(seed, offset + uint64_t(i)));
}

}  // namespace iqa::kernels::cpu
