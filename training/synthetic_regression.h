// The synthetic regression the engine smoke run and its test train on: x ~ N(0, I) in 8-d and
// y = sin(x.u1) + 0.5 tanh(x.u2) along two orthonormal random directions, drawn from the default
// Philox generator. Orthonormal (Gram-Schmidt) so the two projections are independent N(0, 1) and the
// target's variance (~0.5) does not hinge on the draw.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace iqa {

struct RegressionData {
  Tensor x;  // [n, 8]
  Tensor y;  // [n, 1]
};
RegressionData make_synthetic_regression(int64_t n);

}  // namespace iqa
