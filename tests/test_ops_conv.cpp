// conv2d, batch_norm2d and the pools against f64 loops and hand values written here, and the CUDA
// running statistics. Gradchecks and CUDA-vs-CPU comparisons: tests/op_table/rows_conv.cpp.
#include <cmath>

#include "engine/random.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

struct ConvCase {
  int64_t n, c_in, h, w, c_out, kh, kw;
  int stride, padding, dilation, groups;
};

// Direct convolution in f64: the seven loops of the definition (plus the group split).
std::vector<double> conv_reference(const ConvCase& k, const std::vector<double>& x, const std::vector<double>& w,
                                   const std::vector<double>* b, int64_t& oh_out, int64_t& ow_out) {
  const int64_t oh_n = (k.h + 2 * k.padding - k.dilation * (k.kh - 1) - 1) / k.stride + 1;
  const int64_t ow_n = (k.w + 2 * k.padding - k.dilation * (k.kw - 1) - 1) / k.stride + 1;
  const int64_t cg = k.c_in / k.groups, og = k.c_out / k.groups;
  std::vector<double> y(size_t(k.n * k.c_out * oh_n * ow_n));
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t co = 0; co < k.c_out; ++co)
      for (int64_t oh = 0; oh < oh_n; ++oh)
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          double acc = b ? (*b)[size_t(co)] : 0.0;
          const int64_t group = co / og;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < k.kh; ++i)
              for (int64_t j = 0; j < k.kw; ++j) {
                int64_t ih = oh * k.stride - k.padding + i * k.dilation;
                int64_t iw = ow * k.stride - k.padding + j * k.dilation;
                if (ih < 0 || ih >= k.h || iw < 0 || iw >= k.w) continue;
                acc += x[size_t(((n * k.c_in + group * cg + ci) * k.h + ih) * k.w + iw)] *
                       w[size_t(((co * cg + ci) * k.kh + i) * k.kw + j)];
              }
          y[size_t(((n * k.c_out + co) * oh_n + oh) * ow_n + ow)] = acc;
        }
  oh_out = oh_n;
  ow_out = ow_n;
  return y;
}

void check_conv_forward(const ConvCase& k, bool with_bias, DType dt) {
  Tensor x = rand_f64({k.n, k.c_in, k.h, k.w}, -1, 1, 11).detach().to(dt);
  Tensor w = rand_f64({k.c_out, k.c_in / k.groups, k.kh, k.kw}, -1, 1, 12).detach().to(dt);
  Tensor b = with_bias ? rand_f64({k.c_out}, -1, 1, 13).detach().to(dt) : Tensor();
  Tensor y = conv2d(x, w, b, k.stride, k.padding, k.dilation, k.groups);
  std::vector<double> bv = with_bias ? b.to_vector_f64() : std::vector<double>();
  int64_t oh = 0, ow = 0;
  std::vector<double> want = conv_reference(k, x.to_vector_f64(), w.to_vector_f64(), with_bias ? &bv : nullptr, oh, ow);
  REQUIRE(y.shape() == Shape{k.n, k.c_out, oh, ow});
  double tol = dt == DType::F64 ? 1e-12 : 1e-5;
  require_close(y.to_vector_f64(), want, tol, tol, "conv2d forward");
}

Tensor rand_f32(const Shape& s, uint64_t seed) { return rand_f64(s, -1, 1, seed).detach().to(DType::F32); }

// The pools' hand example: a 4x4 image with distinct values and no monotone pattern.
Tensor pool_image() {
  return Tensor::from_vector({1, 9, 2, 3, 4, 0, 8, 5, 7, 6, 1, 2, 3, 8, 4, 10}, {1, 1, 4, 4}, DType::F64);
}

}  // namespace

// ------------------------------------------------------------------------------------------ conv2d

TEST_CASE("conv2d forward matches a direct f64 convolution", "[ops][conv]") {
  // batch 3, 5x7 images, stride 2, padding 1, groups 2, dilation 2, non-square kernel.
  check_conv_forward({3, 4, 5, 7, 6, 3, 2, 2, 1, 2, 2}, true, DType::F64);
  check_conv_forward({3, 4, 5, 7, 6, 3, 2, 2, 1, 2, 2}, true, DType::F32);
  check_conv_forward({3, 4, 5, 7, 6, 3, 3, 1, 0, 1, 1}, false, DType::F32);
  check_conv_forward({2, 6, 9, 8, 6, 3, 3, 1, 1, 1, 6}, true, DType::F64);  // depthwise
  check_conv_forward({1, 3, 7, 5, 4, 1, 1, 2, 0, 1, 1}, true, DType::F32);  // 1x1, strided
}

TEST_CASE("conv2d rejects inconsistent shapes", "[ops][conv]") {
  Tensor x = Tensor::zeros({2, 4, 5, 5});
  REQUIRE_THROWS_AS(conv2d(x, Tensor::zeros({6, 3, 3, 3}), Tensor(), 1, 0, 1, 1), Error);     // Cin mismatch
  REQUIRE_THROWS_AS(conv2d(x, Tensor::zeros({5, 2, 3, 3}), Tensor(), 1, 0, 1, 2), Error);     // Cout % groups
  REQUIRE_THROWS_AS(conv2d(x, Tensor::zeros({6, 4, 3, 3}), Tensor::zeros({5}), 1, 0, 1, 1), Error);
  REQUIRE_THROWS_AS(conv2d(x, Tensor::zeros({6, 4, 7, 7}), Tensor(), 1, 0, 1, 1), Error);     // kernel too big
  REQUIRE_THROWS_AS(conv2d(x, Tensor::zeros({6, 4, 3, 3}), Tensor(), 0, 0, 1, 1), Error);     // stride 0
}

// ------------------------------------------------------------------------------------ batch_norm2d

TEST_CASE("batch_norm2d training forward and running statistics match the formulas", "[ops][conv]") {
  const int64_t n = 3, c = 4, h = 5, w = 7, m = n * h * w;
  Tensor x = rand_f64({n, c, h, w}, -2, 3, 31).detach();
  Tensor weight = rand_f64({c}, 0.5, 1.5, 32).detach(), bias = rand_f64({c}, -1, 1, 33).detach();
  Tensor rm = Tensor::from_vector_f64({0.1, -0.2, 0.3, 0.0}, {c});
  Tensor rv = Tensor::from_vector_f64({1.0, 0.5, 2.0, 1.5}, {c});
  const double momentum = 0.1, eps = 1e-5;
  Tensor y = batch_norm2d(x, weight, bias, rm, rv, true, momentum, eps);
  auto xv = x.to_vector_f64(), wv = weight.to_vector_f64(), bv = bias.to_vector_f64();
  std::vector<double> want(xv.size()), want_rm{0.1, -0.2, 0.3, 0.0}, want_rv{1.0, 0.5, 2.0, 1.5};
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0, sq = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < h * w; ++i) s += xv[size_t((b * c + ch) * h * w + i)];
    double mu = s / m;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < h * w; ++i) sq += std::pow(xv[size_t((b * c + ch) * h * w + i)] - mu, 2);
    double var = sq / m;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < h * w; ++i) {
        size_t k = size_t((b * c + ch) * h * w + i);
        want[k] = (xv[k] - mu) / std::sqrt(var + eps) * wv[size_t(ch)] + bv[size_t(ch)];
      }
    want_rm[size_t(ch)] = 0.9 * want_rm[size_t(ch)] + 0.1 * mu;
    want_rv[size_t(ch)] = 0.9 * want_rv[size_t(ch)] + 0.1 * var * m / (m - 1);  // unbiased for the running var
  }
  require_close(y.to_vector_f64(), want, 1e-12, 1e-12, "batch_norm2d train");
  require_close(rm.to_vector_f64(), want_rm, 1e-12, 1e-12, "running_mean");
  require_close(rv.to_vector_f64(), want_rv, 1e-12, 1e-12, "running_var");

  // f32 input with f32 buffers gives the same numbers to f32 precision.
  Tensor rm32 = Tensor::from_vector({0.1f, -0.2f, 0.3f, 0.0f}, {c}), rv32 = Tensor::from_vector({1, 0.5, 2, 1.5}, {c});
  Tensor y32 = batch_norm2d(x.to(DType::F32), weight.to(DType::F32), bias.to(DType::F32), rm32, rv32, true, momentum, eps);
  require_close(y32.to_vector_f64(), want, 1e-5, 1e-5, "batch_norm2d train f32");
  require_close(rv32.to_vector_f64(), want_rv, 1e-6, 1e-6, "running_var f32");
}

TEST_CASE("batch_norm2d eval uses the running statistics and leaves them alone", "[ops][conv]") {
  const int64_t c = 3;
  Tensor x = rand_f64({2, c, 4, 3}, -2, 2, 41).detach();
  Tensor weight = Tensor::from_vector_f64({1.5, -0.5, 2.0}, {c}), bias = Tensor::from_vector_f64({0.1, 0.2, -0.3}, {c});
  Tensor rm = Tensor::from_vector_f64({0.5, -1.0, 0.25}, {c}), rv = Tensor::from_vector_f64({4.0, 0.25, 1.0}, {c});
  Tensor y = batch_norm2d(x, weight, bias, rm, rv, false, 0.1, 1e-5);
  auto xv = x.to_vector_f64();
  std::vector<double> want(xv.size());
  const double m[] = {0.5, -1.0, 0.25}, v[] = {4.0, 0.25, 1.0}, wv[] = {1.5, -0.5, 2.0}, bv[] = {0.1, 0.2, -0.3};
  for (size_t k = 0; k < xv.size(); ++k) {
    size_t ch = (k / 12) % c;
    want[k] = (xv[k] - m[ch]) / std::sqrt(v[ch] + 1e-5) * wv[ch] + bv[ch];
  }
  require_close(y.to_vector_f64(), want, 1e-12, 1e-12, "batch_norm2d eval");
  REQUIRE(rm.to_vector_f64() == std::vector<double>{0.5, -1.0, 0.25});
  REQUIRE(rv.to_vector_f64() == std::vector<double>{4.0, 0.25, 1.0});
  REQUIRE_THROWS_AS(batch_norm2d(x, weight, bias, Tensor(), Tensor(), false), Error);
  REQUIRE_THROWS_AS(batch_norm2d(x.narrow(0, 0, 1).narrow(2, 0, 1).narrow(3, 0, 1), weight, bias, rm, rv, true), Error);
}

// ------------------------------------------------------------------------------------------- pools

TEST_CASE("max_pool2d and avg_pool2d forward give the hand-computed values", "[ops][conv]") {
  Tensor x = pool_image();
  // rows: [1 9 2 3] [4 0 8 5] [7 6 1 2] [3 8 4 10]
  REQUIRE(max_pool2d(x, 2, 2).to_vector_f64() == std::vector<double>{9, 8, 8, 10});
  REQUIRE(max_pool2d(x, 3, 2, 1).to_vector_f64() == std::vector<double>{9, 9, 8, 10});
  REQUIRE(max_pool2d(x, 3, 1).to_vector_f64() == std::vector<double>{9, 9, 8, 10});
  require_close(avg_pool2d(x, 2, 2).to_vector_f64(), {3.5, 4.5, 6.0, 4.25}, 1e-12, 1e-12, "avg k2 s2");
  // count_include_pad: every window divides by 9, padding counts as zero.
  require_close(avg_pool2d(x, 3, 2, 1).to_vector_f64(), {14.0 / 9, 27.0 / 9, 28.0 / 9, 44.0 / 9}, 1e-12, 1e-12,
                "avg k3 s2 p1");
  // All-negative input: padding (-inf) never wins a max window.
  Tensor neg = Tensor::from_vector_f64({-5, -3, -4, -8}, {1, 1, 2, 2});
  REQUIRE(max_pool2d(neg, 2, 1, 1).to_vector_f64() == std::vector<double>{-5, -3, -3, -4, -3, -3, -4, -4, -8});
  REQUIRE(max_pool2d(x.to(DType::F32).squeeze(0), 2, 2).shape() == Shape{1, 2, 2});  // [C, H, W] input
  REQUIRE_THROWS_AS(max_pool2d(x, 2, 2, 2), Error);  // padding above kernel/2
  REQUIRE_THROWS_AS(avg_pool2d(x, 5, 1), Error);
}

TEST_CASE("max_pool2d backward routes to the argmax, overlapping windows add", "[ops][conv]") {
  Tensor x = pool_image().set_requires_grad(true);
  sum(max_pool2d(x, 3, 1)).backward();  // windows' maxima: 9 (at 0,1) twice, 8 (at 1,2), 10 (at 3,3)
  std::vector<double> g = x.grad().to_vector_f64();
  std::vector<double> want(16, 0.0);
  want[1] = 2, want[6] = 1, want[15] = 1;
  REQUIRE(g == want);
}

TEST_CASE("adaptive_avg_pool2d uses torch's bins (7->3, 5->2)", "[ops][conv]") {
  // 7 -> 3 bins: [0,3) [2,5) [4,7);  5 -> 2 bins: [0,3) [2,5).
  const int64_t bins7[3][2] = {{0, 3}, {2, 5}, {4, 7}}, bins5[2][2] = {{0, 3}, {2, 5}};
  Tensor x = rand_f64({2, 3, 7, 5}, -1, 1, 61).detach();
  Tensor y = adaptive_avg_pool2d(x, 3, 2);
  REQUIRE(y.shape() == Shape{2, 3, 3, 2});
  auto xv = x.to_vector_f64();
  std::vector<double> want;
  for (int64_t p = 0; p < 6; ++p)
    for (int oh = 0; oh < 3; ++oh)
      for (int ow = 0; ow < 2; ++ow) {
        double s = 0;
        int cnt = 0;
        for (int64_t i = bins7[oh][0]; i < bins7[oh][1]; ++i)
          for (int64_t j = bins5[ow][0]; j < bins5[ow][1]; ++j, ++cnt) s += xv[size_t(p * 35 + i * 5 + j)];
        want.push_back(s / cnt);
      }
  require_close(y.to_vector_f64(), want, 1e-12, 1e-12, "adaptive 7x5 -> 3x2");
  Tensor sq = rand_f64({1, 2, 7, 7}, -1, 1, 62).detach();
  Tensor y7 = adaptive_avg_pool2d(sq, 3, 3);
  auto sv = sq.to_vector_f64();
  double corner = 0;  // bin (2, 1): rows [4,7), cols [2,5) of channel 1
  for (int i = 4; i < 7; ++i)
    for (int j = 2; j < 5; ++j) corner += sv[size_t(49 + i * 7 + j)];
  REQUIRE(std::abs(y7.to_vector_f64()[9 + 2 * 3 + 1] - corner / 9) < 1e-12);
  // Global average pooling.
  require_close(adaptive_avg_pool2d(sq, 1, 1).reshape({2}), mean(sq, {2, 3}).reshape({2}), 1e-12, 1e-12, "global");
}

// -------------------------------------------------------------------------------------------- CUDA

TEST_CASE("CUDA batch_norm2d running statistics match the CPU after a training step", "[ops][conv][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  for (DType dt : {DType::F32, DType::BF16}) {
    INFO("dtype " << dtype_name(dt));
    Tensor x = rand_f32({3, 5, 9, 7}, 14).to(dt).to(DType::F32);
    Tensor rm_cpu = Tensor::zeros({5}), rv_cpu = Tensor::ones({5});
    Tensor rm_gpu = rm_cpu.to(cuda_device()), rv_gpu = rv_cpu.to(cuda_device());
    batch_norm2d(x, Tensor(), Tensor(), rm_cpu, rv_cpu, true, 0.1, 1e-5);
    batch_norm2d(x.to(cuda_device(), dt), Tensor(), Tensor(), rm_gpu, rv_gpu, true, 0.1, 1e-5);
    require_close(rm_gpu.cpu(), rm_cpu, 1e-5, 1e-6, "running_mean");
    require_close(rv_gpu.cpu(), rv_cpu, 1e-5, 1e-6, "running_var");
  }
}
