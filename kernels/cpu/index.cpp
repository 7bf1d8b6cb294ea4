// CPU indexing kernels. The adjoints (index_add, scatter_add) run serially so repeated indices add up
// in a fixed order.
#include "kernels/cpu/dispatch.h"
#include "kernels/error.h"
#include "kernels/index.h"

namespace iqa::kernels {

std::string index_fault_message(const IndexFault& f) {
  const char* op = f.op == IndexOp::Gather ? "gather" : f.op == IndexOp::IndexSelect ? "index_select" : "index op";
  return cat(op, ": index ", f.value, " (at position ", f.position, ") is out of range for dim ", f.dim, " of size ",
             f.limit, " (found on the device, reported at the next synchronisation; IQA_CUDA_SYNC_CHECK=1 reports "
             "it at the op)");
}

}  // namespace iqa::kernels

namespace iqa::kernels::cpu {

namespace {

// Calls f(T{}) with an unsigned type of the element's size: the selects only move bits, so one
// instance serves every dtype of that width.
template <class F>
void with_element_bits(DType dtype, F&& f) {
  switch (dtype_size(dtype)) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

}  // namespace

int64_t find_bad_index(const void* index, DType index_dtype, int64_t n, int64_t limit) {
  IQA_CHECK(index_dtype == DType::I64 || index_dtype == DType::I32, "index must be i64 or i32, got ",
            dtype_name(index_dtype));
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = index_at(index, index_dtype, i);
    if (v < 0 || v >= limit) return i;
  }
  return -1;
}

void index_select(DType dtype, const IndexSelectGeometry& g, const void* x_, const void* index, DType index_dtype,
                  void* out_) {
  with_element_bits(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(x_);
    T* out = static_cast<T*>(out_);
#pragma omp parallel for collapse(2) if (g.outer * g.n_index * g.inner > 65536)
    for (int64_t o = 0; o < g.outer; ++o)
      for (int64_t i = 0; i < g.n_index; ++i) {
        const T* src = x + (o * g.src_size + index_at(index, index_dtype, i)) * g.inner;
        T* dst = out + (o * g.n_index + i) * g.inner;
        for (int64_t k = 0; k < g.inner; ++k) dst[k] = src[k];
      }
  });
}

void index_add(DType dtype, const IndexSelectGeometry& g, const void* src_, const void* index, DType index_dtype,
               void* dst_) {
  with_cpu_float(dtype, "index_select backward", [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(src_);
    T* dst = static_cast<T*>(dst_);
    // Parallel over `outer` only: different o never touch the same destination row.
#pragma omp parallel for if (g.outer * g.n_index * g.inner > 65536)
    for (int64_t o = 0; o < g.outer; ++o)
      for (int64_t i = 0; i < g.n_index; ++i) {
        const T* s = src + (o * g.n_index + i) * g.inner;
        T* d = dst + (o * g.src_size + index_at(index, index_dtype, i)) * g.inner;
        for (int64_t k = 0; k < g.inner; ++k) d[k] += s[k];
      }
  });
}

void gather(DType dtype, const GatherLayout& l, const void* x_, const void* index, DType index_dtype, void* out_,
            int64_t n) {
  with_element_bits(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(x_);
    T* out = static_cast<T*>(out_);
#pragma omp parallel for if (n > 65536)
    for (int64_t p = 0; p < n; ++p) out[p] = x[gather_offset(l, p, index_at(index, index_dtype, p))];
  });
}

void scatter_add(DType dtype, const GatherLayout& l, const void* src_, const void* index, DType index_dtype,
                 void* dst_, int64_t n) {
  with_cpu_float(dtype, "gather backward", [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(src_);
    T* dst = static_cast<T*>(dst_);
    for (int64_t p = 0; p < n; ++p) dst[gather_offset(l, p, index_at(index, index_dtype, p))] += src[p];
  });
}

}  // namespace iqa::kernels::cpu
