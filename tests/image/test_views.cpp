// View kernels (kernels/views.h through training/image/view_batch.h): the CPU reference against the training
// path's per-image rendering (identical bytes, and identical normalised values), the nine-crop pairing,
// the tap table, and CUDA against the CPU.
#include <algorithm>
#include <cmath>

#include "engine/random.h"
#include "kernels/views.h"
#include "tests/testing.h"
#include "training/image/view_batch.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

// Smooth gradients plus noise, so resampling errors would show in every channel.
ImageU8 test_image(int w, int h, uint64_t seed) {
  manual_seed(seed);
  std::vector<float> noise = Tensor::rand({int64_t(w) * h * 3}).to_vector();
  ImageU8 img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const double smooth = 127.5 + 100 * std::sin(0.013 * (x + 1) * (c + 1) + 0.021 * y);
        const double v = smooth + 60 * (noise[(size_t(y) * w + x) * 3 + size_t(c)] - 0.5);
        img.at(y, x, c) = uint8_t(std::clamp(v, 0.0, 255.0));
      }
  return img;
}

// View v of a U8 [V, 3, H, W] tensor as an HWC image.
ImageU8 view_image(const Tensor& t, int64_t v) {
  const int64_t H = t.size(2), W = t.size(3);
  const uint8_t* p = t.data<uint8_t>() + v * 3 * H * W;
  ImageU8 img(int(W), int(H), 3);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < H * W; ++i) img.pixels[size_t(i * 3 + c)] = p[c * H * W + i];
  return img;
}

struct Batch {
  std::vector<ImageU8> images;
  std::vector<kernels::ViewGather> views;
  std::vector<ImageU8> expected;  // the training path's rendering of each view
  std::vector<const ImageU8*> pointers() const {
    std::vector<const ImageU8*> p;
    for (const auto& img : images) p.push_back(&img);
    return p;
  }
};

// Images of odd and typical sizes; per image a random global view (256 or 244) and a random mosaic.
Batch make_batch(uint64_t seed) {
  Batch b;
  const int sizes[][2] = {{1024, 768}, {333, 517}, {500, 500}, {97, 61}, {1281, 959}};
  for (int i = 0; i < 5; ++i) b.images.push_back(test_image(sizes[i][0], sizes[i][1], seed + uint64_t(i)));
  for (int i = 0; i < 5; ++i) {
    const ImageU8& img = b.images[size_t(i)];
    const uint64_t key = sample_key(seed, 0, uint64_t(i));
    GlobalViewPlan gp = draw_global_view_plan(key, i % 2 ? 244 : 256);
    if (i == 0) gp.flip = true;  // make sure both flip states appear
    if (i == 1) gp.flip = false;
    MosaicPlan mp = draw_mosaic_plan(key ^ 0x9e3779b97f4a7c15ull, img.width, img.height);
    if (i == 0) mp.flip = false;
    if (i == 1) mp.flip = true;
    b.views.push_back(global_view_gather(gp, i));
    b.expected.push_back(render_global_view(img, gp));
    b.views.push_back(mosaic_view_gather(mp, img.width, img.height, i));
    b.expected.push_back(render_mosaic_view(img, mp));
  }
  return b;
}

}  // namespace

TEST_CASE("view kernels on the CPU reproduce the training path byte for byte", "[kernels][views]") {
  const Batch b = make_batch(7);
  Tensor bytes = render_view_batch(b.pointers(), b.views, DType::U8, kCPU);
  REQUIRE(bytes.shape() == Shape({10, 3, 224, 224}));
  for (size_t v = 0; v < b.views.size(); ++v) {
    INFO("view " << v);
    REQUIRE(view_image(bytes, int64_t(v)).pixels == b.expected[v].pixels);
  }
  // Normalised outputs: f32 equals normalize_to_chw exactly, bf16 is its round-to-nearest-even.
  Tensor f32 = render_view_batch(b.pointers(), b.views, DType::F32, kCPU);
  Tensor bf16 = render_view_batch(b.pointers(), b.views, DType::BF16, kCPU);
  const size_t per_view = 3 * 224 * 224;
  std::vector<float> want(per_view);
  for (size_t v = 0; v < b.views.size(); ++v) {
    normalize_to_chw(b.expected[v], want.data());
    const float* got = f32.data<float>() + v * per_view;
    const uint16_t* got_bf16 = bf16.data<uint16_t>() + v * per_view;
    size_t mismatches = 0;
    for (size_t i = 0; i < per_view; ++i) {
      mismatches += got[i] != want[i];
      mismatches += got_bf16[i] != float_to_bf16_bits(want[i]);
    }
    INFO("view " << v);
    REQUIRE(mismatches == 0);
  }
}

TEST_CASE("nine-crop test views pair global crop i with local crop i", "[kernels][views]") {
  const ImageU8 img = test_image(640, 480, 3);
  const std::vector<kernels::ViewGather> views = nine_crop_test_views(0, img.width, img.height, 244);
  REQUIRE(views.size() == 18);
  Tensor bytes = render_view_batch({&img}, views, DType::U8, kCPU);
  const auto globals = nine_crop_global_plans(244);
  const auto locals = nine_crop_mosaic_plans(img.width, img.height);
  for (int i = 0; i < 9; ++i) {
    INFO("crop " << i);
    REQUIRE(view_image(bytes, i).pixels == render_global_view(img, globals[size_t(i)]).pixels);
    REQUIRE(view_image(bytes, 9 + i).pixels == render_mosaic_view(img, locals[size_t(i)]).pixels);
  }
  // Spot-check the §5.1 orders: global crop 2 is top-right (x = 20 at 244), local crop 1 is (0, max).
  REQUIRE(views[2].cols[0] == 20);
  REQUIRE(views[2].rows[0] == 0);
  const int cell_w = views[9].resize_width / 7, cell_h = views[9].resize_height / 7;
  REQUIRE(views[10].rows[0] == 0);
  REQUIRE(views[10].cols[0] == cell_w - 32);
  REQUIRE(views[11].rows[0] == cell_h - 32);
  REQUIRE(views[11].cols[0] == 0);
}

TEST_CASE("PIL taps: weights sum to one, mirroring reverses them, table errors name the view", "[kernels][views]") {
  const std::vector<int> outs = {0, 1, 100, 255};
  const kernels::PilTaps t = kernels::pil_bilinear_taps(1024, 256, outs);
  // Mirrored: the taps of the same outputs of the flipped source, expressed in source order.
  const kernels::PilTaps m = kernels::pil_bilinear_taps(1024, 256, outs, true);
  REQUIRE(t.max_taps == 9);  // scale 4: support 4, 2 * 4 + 1 taps
  for (size_t o = 0; o < outs.size(); ++o) {
    int64_t sum = 0;
    for (int k = 0; k < t.count[o]; ++k) sum += t.weights[o * size_t(t.max_taps) + size_t(k)];
    REQUIRE(std::abs(sum - (int64_t(1) << 22)) <= t.count[o]);
    REQUIRE(m.count[o] == t.count[o]);
    REQUIRE(m.first[o] == 1024 - t.first[o] - t.count[o]);
    for (int k = 0; k < m.count[o]; ++k)
      REQUIRE(m.weights[o * size_t(m.max_taps) + size_t(k)] ==
              t.weights[o * size_t(t.max_taps) + size_t(t.count[o] - 1 - k)]);
  }
  // Output 0 of a 4x downscale: center 2, taps over [0, 6) -> 6 taps after clipping at the border.
  REQUIRE(t.first[0] == 0);
  REQUIRE(t.count[0] == 6);
  kernels::ViewGather g{0, 256, 256, std::vector<int>(224, 0), std::vector<int>(224, 0), false};
  const int32_t w = 300, h = 200;
  REQUIRE_THROWS_WITH(kernels::build_view_tap_table({g}, &w, &h, 1, 224, 223), Catch::Contains("view 0"));
  g.image = 1;
  REQUIRE_THROWS_WITH(kernels::build_view_tap_table({g}, &w, &h, 1, 224, 224), Catch::Contains("image 1"));
  g.image = 0;
  g.rows[5] = 256;
  REQUIRE_THROWS_AS(kernels::build_view_tap_table({g}, &w, &h, 1, 224, 224), Error);
}

TEST_CASE("view kernels: CUDA matches the CPU", "[kernels][views][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const Batch b = make_batch(11);
  std::vector<kernels::ViewGather> views = b.views;
  for (const auto& v : nine_crop_test_views(3, b.images[3].width, b.images[3].height)) views.push_back(v);
  const std::vector<const ImageU8*> images = b.pointers();
  Tensor cpu_bytes = render_view_batch(images, views, DType::U8, kCPU);
  Tensor gpu_bytes = render_view_batch(images, views, DType::U8, cuda_device(0)).cpu();
  const std::vector<int64_t> a = cpu_bytes.to_vector_i64(), g = gpu_bytes.to_vector_i64();
  int64_t worst = 0, differing = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - g[i]));
    differing += a[i] != g[i];
  }
  INFO("pixels differing: " << differing << ", worst " << worst << " gray levels");
  REQUIRE(worst <= 1);
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor want = render_view_batch(images, views, dt, kCPU).to(DType::F32);
    Tensor got = render_view_batch(images, views, dt, cuda_device(0)).cpu().to(DType::F32);
    // One gray level is 1 / (255 * 0.225) = 0.0174 after normalisation; bf16 adds 2^-8 relative.
    require_close(got, want, dt == DType::F32 ? 0.0 : 1e-2, 0.0175, dtype_name(dt));
  }
}
