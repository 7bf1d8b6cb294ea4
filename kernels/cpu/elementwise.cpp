#include "kernels/elementwise.h"

#include <algorithm>

#include "engine/error.h"

namespace iqa::kernels::cpu {

namespace {

template <class T>
inline T apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Max: return a >= b ? a : b;
    case BinaryOp::Min: return a <= b ? a : b;
    default: return T(0);
  }
}
inline uint8_t compare(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Eq: return a == b;
    default: return 0;
  }
}

bool is_comparison(BinaryOp op) { return op == BinaryOp::Gt || op == BinaryOp::Lt || op == BinaryOp::Eq; }

// Walks the output in row-major order with the innermost dim in a tight loop.
template <class T, class Out, class F>
void for_each_broadcast(const T* a, const T* b, Out* out, const BroadcastLayout& l, int64_t n, F f) {
  if (l.ndim == 0) {
    if (n == 1) out[0] = f(a[0], b[0]);
    return;
  }
  const int last = l.ndim - 1;
  const int64_t inner = l.shape[last];
  const int64_t rows = n / inner;
  const int64_t sa = l.a_strides[last], sb = l.b_strides[last];
#pragma omp parallel for if (n > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t rem = r, oa = 0, ob = 0;
    for (int d = last - 1; d >= 0; --d) {
      int64_t idx = rem % l.shape[d];
      rem /= l.shape[d];
      oa += idx * l.a_strides[d];
      ob += idx * l.b_strides[d];
    }
    const T* pa = a + oa;
    const T* pb = b + ob;
    Out* po = out + r * inner;
    for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i * sa], pb[i * sb]);
  }
}

template <class T>
void binary_typed(BinaryOp op, const void* a, const void* b, void* out, const BroadcastLayout& l, int64_t n) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  if (is_comparison(op)) {
    for_each_broadcast(pa, pb, static_cast<uint8_t*>(out), l, n,
                       [op](T x, T y) { return compare(op, double(x), double(y)); });
    return;
  }
  T* po = static_cast<T*>(out);
  switch (op) {  // one instantiation per op so the inner loop vectorises
    case BinaryOp::Add: for_each_broadcast(pa, pb, po, l, n, [](T x, T y) { return x + y; }); break;
    case BinaryOp::Sub: for_each_broadcast(pa, pb, po, l, n, [](T x, T y) { return x - y; }); break;
    case BinaryOp::Mul: for_each_broadcast(pa, pb, po, l, n, [](T x, T y) { return x * y; }); break;
    case BinaryOp::Div: for_each_broadcast(pa, pb, po, l, n, [](T x, T y) { return x / y; }); break;
    default: for_each_broadcast(pa, pb, po, l, n, [op](T x, T y) { return apply(op, x, y); }); break;
  }
}

}  // namespace

void binary(BinaryOp op, DType dtype, const void* a, const void* b, void* out, const BroadcastLayout& l, int64_t n) {
  switch (dtype) {
    case DType::F32: binary_typed<float>(op, a, b, out, l, n); break;
    case DType::F64: binary_typed<double>(op, a, b, out, l, n); break;
    case DType::I64: binary_typed<int64_t>(op, a, b, out, l, n); break;
    case DType::I32: binary_typed<int32_t>(op, a, b, out, l, n); break;
    case DType::U8: binary_typed<uint8_t>(op, a, b, out, l, n); break;
    default: fail(cat("CPU binary op: unsupported dtype ", dtype_name(dtype), " (CPU computes in f32/f64)"));
  }
}

}  // namespace iqa::kernels::cpu
