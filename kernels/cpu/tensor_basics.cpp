#include "kernels/tensor_basics.h"

#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/scalar_io.h"
#include "kernels/philox.h"

namespace iqa::kernels::cpu {

namespace {

bool same_shape(const StridedLayout& a, const StridedLayout& b) {
  if (a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.shape[d] != b.shape[d]) return false;
  return true;
}

StridedLayout contiguous_like(const StridedLayout& l) {
  StridedLayout c = l;
  int64_t stride = 1;
  for (int d = l.ndim - 1; d >= 0; --d) c.strides[d] = stride, stride *= l.shape[d];
  return c;
}

// The element offsets of consecutive rows (a row = the last dim) of a strided layout, from row
// `first` on. The multi-index is carried from row to row, so a copy pays no division per element:
// the per-element strided_offset() made permuted copies (e.g. NCHW crops into a batch) several times
// slower than the memory traffic they need.
class RowCursor {
 public:
  RowCursor(const StridedLayout& l, int64_t first) : l_(l) {
    for (int d = l.ndim - 2; d >= 0; --d) {
      idx_[d] = first % l.shape[d];
      first /= l.shape[d];
      offset_ += idx_[d] * l.strides[d];
    }
  }
  int64_t offset() const { return offset_; }
  void next() {
    for (int d = l_.ndim - 2; d >= 0; --d) {
      offset_ += l_.strides[d];
      if (++idx_[d] < l_.shape[d]) return;
      offset_ -= idx_[d] * l_.strides[d];
      idx_[d] = 0;
    }
  }

 private:
  const StridedLayout& l_;
  int64_t idx_[kMaxDims] = {};
  int64_t offset_ = 0;
};

template <class T>
void copy_row_same_type(const T* s, int64_t ss, T* d, int64_t ds, int64_t len) {
  if (ss == 1 && ds == 1) {
    std::memcpy(d, s, size_t(len) * sizeof(T));
    return;
  }
  for (int64_t j = 0; j < len; ++j) d[j * ds] = s[j * ss];
}

// One row: len elements, src at element offset so with stride ss, dst at do_ with stride ds.
void copy_row(const void* src, DType st, int64_t so, int64_t ss, void* dst, DType dt, int64_t do_, int64_t ds,
              int64_t len) {
  if (st == dt) {
    switch (dtype_size(st)) {
      case 1: return copy_row_same_type(static_cast<const uint8_t*>(src) + so, ss, static_cast<uint8_t*>(dst) + do_, ds, len);
      case 2: return copy_row_same_type(static_cast<const uint16_t*>(src) + so, ss, static_cast<uint16_t*>(dst) + do_, ds, len);
      case 4: return copy_row_same_type(static_cast<const uint32_t*>(src) + so, ss, static_cast<uint32_t*>(dst) + do_, ds, len);
      case 8: return copy_row_same_type(static_cast<const uint64_t*>(src) + so, ss, static_cast<uint64_t*>(dst) + do_, ds, len);
      default: break;
    }
  }
  for (int64_t j = 0; j < len; ++j) store_from_double(dst, dt, do_ + j * ds, load_as_double(src, st, so + j * ss));
}

}  // namespace

void copy_cast(const void* src, DType st, const StridedLayout& sl, void* dst, DType dt, const StridedLayout& dl,
               int64_t n) {
  if (n <= 0) return;
  const bool src_contiguous = is_contiguous(sl), dst_contiguous = is_contiguous(dl);
  if (src_contiguous && dst_contiguous && st == dt) {
    std::memcpy(dst, src, size_t(n) * dtype_size(dt));
    return;
  }
  // Walk both sides over one shape. The layouts were coalesced separately, so a contiguous side takes
  // the other side's shape; two strided sides of different shapes take the per-element path.
  StridedLayout a = sl, b = dl;
  if (dst_contiguous) b = contiguous_like(sl);
  else if (src_contiguous) a = contiguous_like(dl);
  if (!same_shape(a, b) || a.ndim == 0) {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i)
      store_from_double(dst, dt, strided_offset(dl, i), load_as_double(src, st, strided_offset(sl, i)));
    return;
  }
  const int64_t len = a.shape[a.ndim - 1], rows = n / len;
  const int64_t ss = a.strides[a.ndim - 1], ds = b.strides[b.ndim - 1];
#pragma omp parallel if (n > 65536)
  {
#ifdef _OPENMP
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
#else
    const int64_t threads = 1, t = 0;
#endif
    const int64_t first = rows * t / threads, last = rows * (t + 1) / threads;
    RowCursor sc(a, first), dc(b, first);
    for (int64_t r = first; r < last; ++r, sc.next(), dc.next())
      copy_row(src, st, sc.offset(), ss, dst, dt, dc.offset(), ds, len);
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

namespace {
// dst[i] = value(i) for i < n, f32 without the per-element dtype switch (the common case).
template <class Value>
void fill_with(void* dst, DType t, int64_t n, Value&& value) {
  if (t == DType::F32) {
    float* d = static_cast<float*>(dst);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = value(i);
    return;
  }
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) store_from_double(dst, t, i, value(i));
}
}  // namespace

void fill_uniform(void* dst, DType t, int64_t n, uint64_t seed, uint64_t offset) {
  fill_with(dst, t, n, [&](int64_t i) { return philox::uniform(seed, offset + uint64_t(i)); });
}

void fill_normal(void* dst, DType t, int64_t n, uint64_t seed, uint64_t offset) {
  fill_with(dst, t, n, [&](int64_t i) { return philox::normal(seed, offset + uint64_t(i)); });
}

}  // namespace iqa::kernels::cpu
