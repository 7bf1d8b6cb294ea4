#include "kernels/tensor_basics.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

TEST_CASE("tensor factories and views", "[tensor]") {
  Tensor a = Tensor::arange(0, 6).reshape({2, 3});
  REQUIRE(a.shape() == Shape{2, 3});
  REQUIRE(a.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5});
  Tensor t = a.transpose(0, 1);
  REQUIRE_FALSE(t.is_contiguous());
  REQUIRE(t.contiguous().to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  REQUIRE(a.narrow(1, 1, 2).contiguous().to_vector() == std::vector<float>{1, 2, 4, 5});
  REQUIRE(a.slice(1, 0, 3, 2).contiguous().to_vector() == std::vector<float>{0, 2, 3, 5});
  REQUIRE(a.select(0, 1).to_vector() == std::vector<float>{3, 4, 5});
  Tensor e = Tensor::from_vector({1, 2, 3}, {3}).unsqueeze(0).expand({2, 3});
  REQUIRE(e.strides()[0] == 0);
  REQUIRE(e.contiguous().to_vector() == std::vector<float>{1, 2, 3, 1, 2, 3});
  REQUIRE(a.permute({1, 0}).reshape({6}).to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  REQUIRE_THROWS_AS(a.transpose(0, 1).view({6}), Error);
  REQUIRE_THROWS_AS(a.reshape({4, 2}), Error);
  REQUIRE(Tensor::full({2}, 7.5).to_vector() == std::vector<float>{7.5f, 7.5f});
}

TEST_CASE("dtype conversion round trips", "[tensor]") {
  Tensor a = Tensor::from_vector({1.0f, -2.5f, 3.140625f, 65504.0f, 1e-7f}, {5});
  REQUIRE(a.to(DType::F64).to_vector_f64()[2] == 3.140625);
  auto bf = a.to(DType::BF16).to_vector();
  REQUIRE(bf[0] == 1.0f);
  REQUIRE(bf[1] == -2.5f);
  REQUIRE(bf[2] == 3.140625f);  // 8 significant bits: exactly representable
  auto h = a.to(DType::F16).to_vector();
  REQUIRE(h[3] == 65504.0f);
  REQUIRE(std::abs(h[4] - 1e-7f) < 6e-8f);  // f16 subnormal, spacing 2^-24 ~ 6e-8
  REQUIRE(Tensor::from_vector({3.7f, -1.2f}, {2}).to(DType::I64).to_vector_i64() == std::vector<int64_t>{3, -1});
  REQUIRE(Tensor::from_vector({255.0f}, {1}).to(DType::U8).item() == 255.0);
}

TEST_CASE("bf16 and f16 conversions round to nearest even", "[tensor]") {
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1+2^-7: ties to even gives 1.
  REQUIRE(bf16_bits_to_float(float_to_bf16_bits(1.0f + 1.0f / 256)) == 1.0f);
  REQUIRE(bf16_bits_to_float(float_to_bf16_bits(1.0f + 3.0f / 256)) == 1.0f + 4.0f / 256);
  REQUIRE(f16_bits_to_float(float_to_f16_bits(1.0f + 1.0f / 2048)) == 1.0f);
  REQUIRE(f16_bits_to_float(float_to_f16_bits(1.0f + 3.0f / 2048)) == 1.0f + 4.0f / 2048);
  REQUIRE(std::isinf(f16_bits_to_float(float_to_f16_bits(70000.0f))));
  REQUIRE(f16_bits_to_float(float_to_f16_bits(5.960464477539063e-08f)) == 5.960464477539063e-08f);  // 2^-24
}

TEST_CASE("Philox rand/randn are reproducible and well distributed", "[tensor][rng]") {
  manual_seed(42);
  Tensor a = Tensor::rand({10000});
  manual_seed(42);
  Tensor b = Tensor::rand({10000});
  REQUIRE(a.to_vector() == b.to_vector());
  Tensor c = Tensor::rand({10000});  // offset advanced: different numbers
  REQUIRE(a.to_vector() != c.to_vector());
  double m = mean(a).item();
  REQUIRE(std::abs(m - 0.5) < 0.01);
  manual_seed(7);
  Tensor n = Tensor::randn({20000}, DType::F64);
  double nm = mean(n).item(), nv = var(n).item();
  REQUIRE(std::abs(nm) < 0.03);
  REQUIRE(std::abs(nv - 1.0) < 0.03);
}

TEST_CASE("broadcasting binary ops match a hand computation", "[ops]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({10, 20, 30}, {3});
  REQUIRE((a + b).to_vector() == std::vector<float>{11, 22, 33, 14, 25, 36});
  Tensor c = Tensor::from_vector({2, 4}, {2, 1});
  REQUIRE((a / c).to_vector() == std::vector<float>{0.5f, 1, 1.5f, 1, 1.25f, 1.5f});
  REQUIRE((a * 2.0).to_vector() == std::vector<float>{2, 4, 6, 8, 10, 12});
  REQUIRE_THROWS_AS(a + Tensor::ones({2}), Error);
}

TEST_CASE("autograd: accumulation, shared subexpression, no_grad, broadcasting", "[autograd]") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = x * x;          // shared: y used twice
  Tensor z = sum(y + y);     // dz/dx = 4x
  z.backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{4, 8, 12});
  sum(x).backward();         // accumulates: +1
  REQUIRE(x.grad().to_vector() == std::vector<float>{5, 9, 13});
  {
    NoGradGuard ng;
    Tensor w = x * 3.0;
    REQUIRE_FALSE(w.requires_grad());
  }
  Tensor d = x.detach();
  REQUIRE_FALSE(d.requires_grad());
  // Broadcasting in backward: b [3] added to a [2,3] gets the column sums.
  Tensor a = Tensor::ones({2, 3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  sum(a * b).backward();
  REQUIRE(b.grad().to_vector() == std::vector<float>{2, 2, 2});
  REQUIRE(a.grad().to_vector() == std::vector<float>{1, 2, 3, 1, 2, 3});
  // The graph is freed after backward.
  Tensor u = x * 2.0;
  Tensor s = sum(u);
  s.backward();
  REQUIRE(u.impl().grad_fn == nullptr);
}

TEST_CASE("autograd: backward from several roots at once sums what reaches a shared node", "[autograd]") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor h = x * 2.0;  // feeds both roots, as add_layer_norm's sum feeds its out
  Tensor y = h * h;    // dy/dh = 2h = 4x
  run_backward({y, h}, {Tensor::from_vector({1, 1, 1}, {3}), Tensor::from_vector({10, 20, 30}, {3})});
  // dx = 2 * (4x * 1 + g_h) = 8x + 2 g_h: one walk, h's node run once with both gradients added.
  REQUIRE(x.grad().to_vector() == std::vector<float>{28, 56, 84});
  REQUIRE(h.impl().grad_fn == nullptr);
  // A scalar root may leave its gradient undefined (ones); a count mismatch is an error.
  Tensor z = sum(x * 3.0);
  run_backward(std::vector<Tensor>{z}, std::vector<Tensor>{Tensor()});
  REQUIRE(x.grad().to_vector() == std::vector<float>{31, 59, 87});
  REQUIRE_THROWS_AS(run_backward(std::vector<Tensor>{sum(x)}, std::vector<Tensor>{}), Error);
}

TEST_CASE("CUDA tensors: round trip, Philox parity with CPU, caching allocator", "[cuda][tensor]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  Device gpu = cuda_device(0);
  Tensor a = Tensor::arange(0, 12).reshape({3, 4});
  Tensor g = a.to(gpu);
  REQUIRE(g.is_cuda());
  REQUIRE(g.transpose(0, 1).contiguous().cpu().to_vector() == a.transpose(0, 1).contiguous().to_vector());
  REQUIRE(g.to(DType::BF16).to(DType::F32).cpu().to_vector() == a.to_vector());
  manual_seed(99);
  Tensor rc = Tensor::rand({1001});
  Tensor nc = Tensor::randn({1001});
  manual_seed(99);
  Tensor rg = Tensor::rand({1001}, DType::F32, gpu);
  Tensor ng = Tensor::randn({1001}, DType::F32, gpu);
  REQUIRE(rg.cpu().to_vector() == rc.to_vector());
  require_close(ng.cpu(), nc, 1e-6, 1e-6, "randn cpu vs cuda");
  // Steady state: the same shapes again must not call cudaMalloc.
  for (int i = 0; i < 2; ++i) { Tensor t = Tensor::empty({256, 1024}, DType::F32, gpu); }
  size_t mallocs = cuda::memory_stats().num_device_mallocs;
  for (int i = 0; i < 10; ++i) { Tensor t = Tensor::empty({256, 1024}, DType::F32, gpu); }
  REQUIRE(cuda::memory_stats().num_device_mallocs == mallocs);
  REQUIRE(cuda::memory_stats().peak_allocated >= size_t(256) * 1024 * 4);
}

TEST_CASE("0-d tensors reshape and reduce", "[tensor]") {
  Tensor s = Tensor::scalar(3.0);
  REQUIRE(s.dim() == 0);
  REQUIRE(s.reshape({1}).to_vector() == std::vector<float>{3});
  REQUIRE(s.reshape({1, 1}).shape() == Shape{1, 1});
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  sum(x).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{1, 1});
}

// The CPU copy kernel walks rows with a carried index; check it against the per-element definition
// (dst at logical i = src at logical i) over permuted, narrowed and strided layouts on either side,
// with and without a dtype change.
TEST_CASE("copy_cast over strided layouts equals the per-element definition", "[tensor]") {
  using kernels::StridedLayout;
  auto layout = [](std::vector<int64_t> shape, std::vector<int64_t> strides) {
    StridedLayout l;
    l.ndim = int(shape.size());
    for (int d = 0; d < l.ndim; ++d) l.shape[d] = shape[size_t(d)], l.strides[d] = strides[size_t(d)];
    return l;
  };
  auto offset = [](const StridedLayout& l, int64_t i) {
    int64_t off = 0;
    for (int d = l.ndim - 1; d >= 0; --d) off += (i % l.shape[d]) * l.strides[d], i /= l.shape[d];
    return off;
  };
  // 3 x 5 x 7 = 105 elements. Layouts into a 400-element buffer.
  const std::vector<std::pair<const char*, StridedLayout>> layouts = {
      {"contiguous", layout({3, 5, 7}, {35, 7, 1})},
      {"flat", layout({105}, {1})},
      {"permuted", layout({3, 5, 7}, {1, 21, 3})},             // a [7, 5, 3] tensor read as [3, 5, 7]
      {"narrowed rows", layout({3, 5, 7}, {80, 9, 1})},        // rows of 7 inside rows of 9
      {"stepped", layout({3, 5, 7}, {100, 14, 2})},             // every other element
      {"merged outer", layout({15, 7}, {9, 1})},
  };
  std::vector<double> base(400);
  for (size_t i = 0; i < base.size(); ++i) base[i] = double(i) * 0.5 - 37;
  for (DType st : {DType::F32, DType::BF16, DType::I64})
    for (DType dt : {DType::F32, DType::F64, DType::BF16}) {
      const Tensor src = Tensor::from_vector_f64(base, {400}).to(st);
      for (const auto& [sname, sl] : layouts)
        for (const auto& [dname, dl] : layouts) {
          INFO(sname << " -> " << dname << ", " << dtype_name(st) << " -> " << dtype_name(dt));
          Tensor dst = Tensor::full({400}, -1.0, dt), expect = Tensor::full({400}, -1.0, DType::F64);
          kernels::cpu::copy_cast(src.raw_data(), st, sl, dst.raw_data(), dt, dl, 105);
          const std::vector<double> sv = src.to_vector_f64();
          std::vector<double> ev = expect.to_vector_f64();
          for (int64_t i = 0; i < 105; ++i) ev[size_t(offset(dl, i))] = sv[size_t(offset(sl, i))];
          // Converting through the destination dtype as the kernel does (bf16 rounds).
          REQUIRE(dst.to_vector_f64() == Tensor::from_vector_f64(ev, {400}).to(dt).to_vector_f64());
        }
    }
}

TEST_CASE("permuted copies large enough for the threaded path match the definition", "[tensor]") {
  const int64_t A = 4, B = 130, C = 151;  // 78520 elements: above the kernel's threading threshold
  const Tensor x = Tensor::arange(0, double(A * B * C)).reshape({A, B, C});
  const Tensor y = x.permute({2, 0, 1}).contiguous();  // [C, A, B]
  const Tensor z = x.narrow(2, 3, 140).permute({1, 0, 2}).to(DType::F64);  // [B, A, 140], dtype change
  const std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  const std::vector<double> zv = z.to_vector_f64();
  int64_t bad = 0;
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) {
        const float v = xv[size_t((a * B + b) * C + c)];
        bad += yv[size_t((c * A + a) * B + b)] != v;
        if (c >= 3 && c < 143) bad += zv[size_t((b * A + a) * 140 + (c - 3))] != double(v);
      }
  REQUIRE(bad == 0);
}
