#include "kernels/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/error.h"

namespace iqa::kernels::cpu {

namespace {

template <class T>
inline T apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    // NaN propagates like torch.maximum/minimum (x != x only for NaN); ties keep a.
    case BinaryOp::Max: return (a >= b || a != a) ? a : b;
    case BinaryOp::Min: return (a <= b || a != a) ? a : b;
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

// ---- unary ----
// The readable reference: one scalar function per op for the forward and for the derivative.

template <class T>
inline T sigmoid_of(T x) { return T(1) / (T(1) + std::exp(-x)); }

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi), gelu tanh form
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1/sqrt(2 pi), normal density
constexpr double kGeluCubic = 0.044715;
constexpr double kQuickGeluScale = 1.702;

template <class T>
inline T unary_forward_one(UnaryOp op, T x, T p0, T p1) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::Pow: return std::pow(x, p0);
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Sign: return T((x > T(0)) - (x < T(0)));
    case UnaryOp::Clamp: return std::isnan(x) ? x : std::min(std::max(x, p0), p1);
    case UnaryOp::Sigmoid: return sigmoid_of(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Gelu: return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2)));
    case UnaryOp::GeluTanh: {
      T inner = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
      return T(0.5) * x * (T(1) + std::tanh(inner));
    }
    case UnaryOp::QuickGelu: return x * sigmoid_of(T(kQuickGeluScale) * x);
  }
  return T(0);
}

// d op / dx at the saved value s (x, or y for the ops that read the output).
template <class T>
inline T unary_derivative_one(UnaryOp op, T s, T p0, T p1) {
  switch (op) {
    case UnaryOp::Neg: return T(-1);
    case UnaryOp::Exp: return s;                         // s = y
    case UnaryOp::Log: return T(1) / s;
    case UnaryOp::Sqrt: return T(0.5) / s;               // s = y
    case UnaryOp::Rsqrt: return T(-0.5) * s * s * s;     // s = y
    case UnaryOp::Pow: return p0 == T(0) ? T(0) : p0 * std::pow(s, p0 - T(1));
    case UnaryOp::Abs: return T((s > T(0)) - (s < T(0)));
    case UnaryOp::Sign: return T(0);
    case UnaryOp::Clamp: return (s >= p0 && s <= p1) ? T(1) : T(0);  // torch: passes at the bounds
    case UnaryOp::Sigmoid: return s * (T(1) - s);         // s = y
    case UnaryOp::Tanh: return T(1) - s * s;              // s = y
    case UnaryOp::Relu: return s > T(0) ? T(1) : T(0);
    case UnaryOp::Gelu: {
      T cdf = T(0.5) * (T(1) + std::erf(s * T(kInvSqrt2)));
      T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * s * s);
      return cdf + s * pdf;
    }
    case UnaryOp::GeluTanh: {
      T inner = T(kSqrt2OverPi) * (s + T(kGeluCubic) * s * s * s);
      T t = std::tanh(inner);
      T d_inner = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * s * s);
      return T(0.5) * (T(1) + t) + T(0.5) * s * (T(1) - t * t) * d_inner;
    }
    case UnaryOp::QuickGelu: {
      T sg = sigmoid_of(T(kQuickGeluScale) * s);
      return sg + s * T(kQuickGeluScale) * sg * (T(1) - sg);
    }
  }
  return T(0);
}

template <class T>
void unary_typed(UnaryOp op, const T* x, T* out, int64_t n, T p0, T p1) {
  with_unary_op(op, [&](auto tag) {
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) out[i] = unary_forward_one(decltype(tag)::value, x[i], p0, p1);
  });
}

template <class T>
void unary_backward_typed(UnaryOp op, const T* saved, const T* g, T* gin, int64_t n, T p0, T p1) {
  with_unary_op(op, [&](auto tag) {
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) gin[i] = g[i] * unary_derivative_one(decltype(tag)::value, saved[i], p0, p1);
  });
}

// where moves bytes only, so one loop per element size serves every dtype.
template <class Word>
void where_typed(const uint8_t* cond, const Word* a, const Word* b, Word* out, const WhereLayout& l, int64_t n) {
#pragma omp parallel for if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, oc = 0, oa = 0, ob = 0;
    for (int d = l.ndim - 1; d >= 0; --d) {
      int64_t idx = rem % l.shape[d];
      rem /= l.shape[d];
      oc += idx * l.cond_strides[d];
      oa += idx * l.a_strides[d];
      ob += idx * l.b_strides[d];
    }
    out[i] = cond[oc] ? a[oa] : b[ob];
  }
}

}  // namespace

void unary(UnaryOp op, DType dtype, const void* x, void* out, int64_t n, double p0, double p1) {
  switch (dtype) {
    case DType::F32:
      unary_typed<float>(op, static_cast<const float*>(x), static_cast<float*>(out), n, float(p0), float(p1));
      break;
    case DType::F64:
      unary_typed<double>(op, static_cast<const double*>(x), static_cast<double*>(out), n, p0, p1);
      break;
    default: fail(cat("CPU unary op: unsupported dtype ", dtype_name(dtype), " (CPU computes in f32/f64)"));
  }
}

void unary_backward(UnaryOp op, DType dtype, const void* saved, const void* grad_out, void* grad_in, int64_t n,
                    double p0, double p1) {
  switch (dtype) {
    case DType::F32:
      unary_backward_typed<float>(op, static_cast<const float*>(saved), static_cast<const float*>(grad_out),
                                  static_cast<float*>(grad_in), n, float(p0), float(p1));
      break;
    case DType::F64:
      unary_backward_typed<double>(op, static_cast<const double*>(saved), static_cast<const double*>(grad_out),
                                   static_cast<double*>(grad_in), n, p0, p1);
      break;
    default: fail(cat("CPU unary backward: unsupported dtype ", dtype_name(dtype), " (CPU computes in f32/f64)"));
  }
}

void where(DType dtype, const uint8_t* cond, const void* a, const void* b, void* out, const WhereLayout& l,
           int64_t n) {
  switch (dtype_size(dtype)) {
    case 1: where_typed(cond, static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), static_cast<uint8_t*>(out), l, n); break;
    case 2: where_typed(cond, static_cast<const uint16_t*>(a), static_cast<const uint16_t*>(b), static_cast<uint16_t*>(out), l, n); break;
    case 4: where_typed(cond, static_cast<const uint32_t*>(a), static_cast<const uint32_t*>(b), static_cast<uint32_t*>(out), l, n); break;
    case 8: where_typed(cond, static_cast<const uint64_t*>(a), static_cast<const uint64_t*>(b), static_cast<uint64_t*>(out), l, n); break;
    default: fail(cat("CPU where: unsupported dtype ", dtype_name(dtype)));
  }
}

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
