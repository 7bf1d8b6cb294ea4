// One tensor operand at the kernel boundary: its first element, its shape and its element strides
// (outermost dimension first), in one struct. Kernels take these instead of runs of positional
// pointer / size / stride arguments, so an argument cannot slide into its neighbour's place and every
// operand says its own shape. The element type is the call's (each kernel header says which).
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace iqa::kernels {

template <class Ptr, int Rank>
struct BasicOperand {
  static_assert(Rank >= 1 && Rank <= kMaxDims, "operand rank out of range");
  static constexpr int kRank = Rank;
  Ptr data = nullptr;
  int64_t shape[Rank] = {};
  int64_t strides[Rank] = {};

  IQA_HD int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < Rank; ++d) n *= shape[d];
    return n;
  }
  // Row-major contiguous (size-1 dimensions may have any stride).
  IQA_HD bool is_contiguous() const {
    int64_t expected = 1;
    for (int d = Rank - 1; d >= 0; --d) {
      if (shape[d] != 1 && strides[d] != expected) return false;
      expected *= shape[d];
    }
    return true;
  }
};

// What a kernel reads, and what it writes.
template <int Rank>
using InOperand = BasicOperand<const void*, Rank>;
template <int Rank>
using OutOperand = BasicOperand<void*, Rank>;

// A contiguous row-major operand of `shape` at `data`.
template <class Ptr, int Rank>
BasicOperand<Ptr, Rank> contiguous_operand(Ptr data, const int64_t (&shape)[Rank]) {
  BasicOperand<Ptr, Rank> op;
  op.data = data;
  int64_t stride = 1;
  for (int d = Rank - 1; d >= 0; --d) {
    op.shape[d] = shape[d];
    op.strides[d] = stride;
    stride *= shape[d];
  }
  return op;
}

}  // namespace iqa::kernels
