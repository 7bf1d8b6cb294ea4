// DSMix's data side: the label weighting on a hand-made case, the area fallback, soft targets, box
// draws, the ground-truth DSM, the three listings (KADIS-700k layout with its type-8 note, iqa-distort
// CSV) and the rendering of training samples (on-the-fly listings: test_dsmix_on_the_fly.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "engine/cuda_runtime.h"
#include "tests/dsmix/dsmix_files.h"
#include "tests/testing.h"
#include "training/image/augment.h"
#include "training/image/decode.h"
#include "training/distort/distort.h"
#include "training/distort/primitives.h"
#include "training/distort/set.h"
#include "training/dsmix/data.h"
#include "training/image/encode.h"

using namespace iqa;
using namespace iqa::training;
namespace fs = std::filesystem;
using iqa::testing::error_of;

using namespace iqa::testing;  // TempDir, textured_image, touch (tests/dsmix/dsmix_files.h)

// ---- label weighting ----------------------------------------------------------------------------------

// Two 8x8 images, 4x4 maps. Bilinear 4 -> 8 with align_corners=False reads input (o + 0.5) / 2 - 0.5,
// so an axis [a, a, b, b] upsamples to [a, a, a, .75a+.25b, .25a+.75b, b, b, b].
//   S_0: columns [1, 1, 3, 3]  -> every row [1, 1, 1, 1.5, 2.5, 3, 3, 3] (row sum 16, total 128)
//   S_1: rows    [4, 4, 0, 0]  -> every column [4, 4, 4, 3, 1, 0, 0, 0] (column sum 16, total 128)
// Sample 0 gets one box from sample 1: rows [0,4) x cols [4,8).
//   S_0 under the box: 4 rows x (2.5+3+3+3) = 46, so w_0 = 128 - 46 = 82
//   S_1 in the box:    4 cols x (4+4+4+3)   = 60, so w_1 = 60
//   lambda = 82/142, 60/142 (area ratios would say 0.75, 0.25).
// Sample 1 gets two boxes from sample 0: A = [0,4)x[0,4), then B = [2,6)x[2,6) on top.
//   Visible A: rows 0-1 x cols 0-3 and rows 2-3 x cols 0-1 (12 px): S_0 = 2 x 4.5 + 2 x 2 = 13
//   Visible B: rows 2-5 x cols 2-5 (16 px):                         S_0 = 4 x (1+1.5+2.5+3) = 32
//   Covered part of S_1: rows 0,1: 4 px x 4 = 32; row 2: 6 px x 4 = 24; row 3: 6 px x 3 = 18;
//   row 4: 4 px x 1 = 4; row 5: 0 -> 78, so the base keeps 128 - 78 = 50.
//   lambda = 50/95, 13/95, 32/95 (areas 36, 12, 16 of 64).
TEST_CASE("DSMix label weights on a hand-made case", "[dsmix]") {
  std::vector<float> maps(2 * 16);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      maps[size_t(y * 4 + x)] = x < 2 ? 1.f : 3.f;
      maps[size_t(16 + y * 4 + x)] = y < 2 ? 4.f : 0.f;
    }
  const std::vector<std::vector<DsmixBox>> boxes = {{{1, 0, 4, 4, 8}}, {{0, 0, 0, 4, 4}, {0, 2, 2, 6, 6}}};
  const std::vector<DsmixWeights> w = dsmix_label_weights(boxes, maps.data(), 4, 4, 8, 8, DsmixOptions{});
  REQUIRE(w.size() == 2);
  CHECK(w[0].source == std::vector<int64_t>{0, 1});
  REQUIRE(w[0].lambda.size() == 2);
  CHECK(std::abs(w[0].lambda[0] - 82.0 / 142.0) < 1e-9);
  CHECK(std::abs(w[0].lambda[1] - 60.0 / 142.0) < 1e-9);
  CHECK(w[1].source == std::vector<int64_t>{1, 0, 0});
  REQUIRE(w[1].lambda.size() == 3);
  CHECK(std::abs(w[1].lambda[0] - 50.0 / 95.0) < 1e-9);
  CHECK(std::abs(w[1].lambda[1] - 13.0 / 95.0) < 1e-9);
  CHECK(std::abs(w[1].lambda[2] - 32.0 / 95.0) < 1e-9);

  // Soft targets: sample 0 has label 3, sample 1 label 5.
  const Tensor t = dsmix_soft_targets(w, {3, 5}, 6);
  REQUIRE(t.shape() == Shape{2, 6});
  const std::vector<float> v = t.to_vector();
  const std::vector<double> want = {0, 0, 0, 82.0 / 142, 0, 60.0 / 142, 0, 0, 0, 45.0 / 95, 0, 50.0 / 95};
  for (size_t i = 0; i < want.size(); ++i) CHECK(std::abs(v[i] - want[i]) < 1e-6);

  // Negative predictions count as 0: S_1 below zero in its lower half changes nothing.
  for (int i = 8; i < 16; ++i) maps[size_t(16 + i)] = -2.f;
  const std::vector<DsmixWeights> w2 = dsmix_label_weights(boxes, maps.data(), 4, 4, 8, 8, DsmixOptions{});
  CHECK(std::abs(w2[1].lambda[0] - 50.0 / 95.0) < 1e-9);
  CHECK(std::abs(w2[0].lambda[1] - 60.0 / 142.0) < 1e-9);
}

// The same weights by brute force: every pixel of every upsampled map (F.interpolate's bilinear with
// align_corners=False written out), non-integer scales, boxes as drawn.
TEST_CASE("DSMix label weights match a per-pixel computation", "[dsmix]") {
  const int mh = 5, mw = 7, h = 37, w = 29, batch = 6;
  const std::vector<int64_t> group = {0, 0, 0, 1, 1, 1};
  const std::vector<bool> pristine(6, false);
  const auto boxes = draw_dsmix_boxes(group, pristine, h, w, DsmixOptions{}, 2024);
  std::vector<float> maps(size_t(batch * mh * mw));
  for (size_t i = 0; i < maps.size(); ++i) maps[i] = float(std::sin(0.37 * double(i)) + 0.8);  // some < 0
  auto axis = [](int o, int in, int out, int* i0, int* i1) {
    const double src = std::max(0.0, (o + 0.5) * in / out - 0.5);
    *i0 = std::min(int(std::floor(src)), in - 1);
    *i1 = std::min(*i0 + 1, in - 1);
    return src - *i0;
  };
  const auto got = dsmix_label_weights(boxes, maps.data(), mh, mw, h, w, DsmixOptions{});
  for (int b = 0; b < batch; ++b) {
    const auto& bx = boxes[size_t(b)];
    std::vector<double> wk(bx.size() + 1, 0.0);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        size_t k = 0;
        for (size_t j = 0; j < bx.size(); ++j)
          if (y >= bx[j].y0 && y < bx[j].y1 && x >= bx[j].x0 && x < bx[j].x1) k = j + 1;
        const int64_t src = k == 0 ? b : bx[k - 1].source;
        int y0, y1, x0, x1;
        const double ly = axis(y, mh, h, &y0, &y1), lx = axis(x, mw, w, &x0, &x1);
        auto m = [&](int yy, int xx) { return std::max(0.0, double(maps[size_t((src * mh + yy) * mw + xx)])); };
        wk[k] += (1 - ly) * ((1 - lx) * m(y0, x0) + lx * m(y0, x1)) + ly * ((1 - lx) * m(y1, x0) + lx * m(y1, x1));
      }
    double total = 0;
    for (double v : wk) total += v;
    REQUIRE(got[size_t(b)].lambda.size() == wk.size());
    for (size_t k = 0; k < wk.size(); ++k) CHECK(std::abs(got[size_t(b)].lambda[k] - wk[k] / total) < 1e-12);
  }
}

TEST_CASE("DSMix label weights fall back to area ratios when the maps are ~0", "[dsmix]") {
  std::vector<float> maps(2 * 16, 1e-14f);
  const std::vector<std::vector<DsmixBox>> boxes = {{{1, 0, 4, 4, 8}}, {{0, 0, 0, 4, 4}, {0, 2, 2, 6, 6}}, {}};
  maps.resize(3 * 16, 0.f);
  const std::vector<DsmixWeights> w = dsmix_label_weights(boxes, maps.data(), 4, 4, 8, 8, DsmixOptions{});
  REQUIRE(w.size() == 3);
  CHECK(std::abs(w[0].lambda[0] - 48.0 / 64) < 1e-12);
  CHECK(std::abs(w[0].lambda[1] - 16.0 / 64) < 1e-12);
  CHECK(std::abs(w[1].lambda[0] - 36.0 / 64) < 1e-12);
  CHECK(std::abs(w[1].lambda[1] - 12.0 / 64) < 1e-12);
  CHECK(std::abs(w[1].lambda[2] - 16.0 / 64) < 1e-12);
  CHECK(w[2].source == std::vector<int64_t>{2});
  CHECK(w[2].lambda == std::vector<double>{1.0});
  // A box outside the image is refused.
  CHECK_THROWS_WITH(dsmix_label_weights({{{0, 0, 0, 9, 4}}}, maps.data(), 4, 4, 8, 8, DsmixOptions{}),
                    Catch::Contains("sample 0"));
}

TEST_CASE("DSMix boxes are deterministic, stay in their group and never touch pristine samples", "[dsmix]") {
  // Group 0: samples 0, 1, 6 distorted and 2 pristine; group 1: 3, 4; group 2: 5 alone; group 3: 7 pristine.
  const std::vector<int64_t> group = {0, 0, 0, 1, 1, 2, 0, 3};
  const std::vector<bool> pristine = {false, false, true, false, false, false, false, true};
  DsmixOptions o;
  const auto a = draw_dsmix_boxes(group, pristine, 224, 200, o, 77);
  const auto b = draw_dsmix_boxes(group, pristine, 224, 200, o, 77);
  const auto c = draw_dsmix_boxes(group, pristine, 224, 200, o, 78);
  REQUIRE(a.size() == 8);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].size() == b[i].size());
    for (size_t k = 0; k < a[i].size(); ++k) {
      CHECK(a[i][k].source == b[i][k].source);
      CHECK((a[i][k].x0 == b[i][k].x0 && a[i][k].x1 == b[i][k].x1 && a[i][k].y0 == b[i][k].y0 &&
             a[i][k].y1 == b[i][k].y1));
      if (a[i][k].x0 != c[i][k].x0 || a[i][k].y0 != c[i][k].y0 || a[i][k].y1 != c[i][k].y1) differs = true;
    }
  }
  CHECK(differs);
  for (size_t i : {2, 5, 7}) CHECK(a[i].empty());  // pristine, or no partner
  for (size_t i : {0, 1, 3, 4, 6}) {
    REQUIRE(a[i].size() == 2);  // exactly mix - 1
    for (const DsmixBox& box : a[i]) {
      CHECK(box.source != int64_t(i));
      CHECK(group[size_t(box.source)] == group[i]);
      CHECK_FALSE(pristine[size_t(box.source)]);
      CHECK((0 <= box.y0 && box.y0 <= box.y1 && box.y1 <= 224 && 0 <= box.x0 && box.x0 <= box.x1 && box.x1 <= 200));
    }
  }
  // Two partners available in group 0: distinct; one in group 1: repeated.
  for (size_t i : {0, 1, 6}) CHECK(a[i][0].source != a[i][1].source);
  CHECK(a[3][0].source == 4);
  CHECK(a[3][1].source == 4);

  // Random box counts cover 0..mix-1 and box areas average about E[r] = 1/2 before clipping (centres
  // near the border clip, so a bit less).
  o.random_box_count = true;
  std::set<size_t> counts;
  double area = 0;
  int boxes = 0;
  for (uint64_t key = 0; key < 300; ++key) {
    const auto d = draw_dsmix_boxes(group, pristine, 224, 224, o, key);
    counts.insert(d[0].size());
    CHECK(d[0].size() <= 2);
    for (const DsmixBox& box : d[0]) area += double(box.y1 - box.y0) * (box.x1 - box.x0) / (224.0 * 224.0), ++boxes;
  }
  CHECK(counts == std::set<size_t>{0, 1, 2});
  REQUIRE(boxes > 100);
  CHECK(area / boxes > 0.2);
  CHECK(area / boxes < 0.5);
}

TEST_CASE("DSMix soft targets of drawn boxes sum to 1 and apply_dsmix_boxes pastes from the sources", "[dsmix]") {
  const std::vector<int64_t> group = {0, 0, 0, 1};
  const std::vector<bool> pristine = {false, false, false, true};
  const auto boxes = draw_dsmix_boxes(group, pristine, 16, 12, DsmixOptions{}, 5);
  std::vector<float> maps(4 * 2 * 3);
  for (size_t i = 0; i < maps.size(); ++i) maps[i] = float((i * 37) % 11) / 10.f;
  const auto w = dsmix_label_weights(boxes, maps.data(), 2, 3, 16, 12, DsmixOptions{});
  for (const DsmixWeights& s : w) {
    double sum = 0;
    for (double l : s.lambda) sum += l;
    CHECK(std::abs(sum - 1.0) < 1e-12);
  }
  CHECK(w[3].lambda == std::vector<double>{1.0});
  const std::vector<float> t = dsmix_soft_targets(w, {2, 4, 4, 0}, 5).to_vector();
  for (int i = 0; i < 4; ++i) {
    double row = 0;
    for (int c = 0; c < 5; ++c) row += t[size_t(i * 5 + c)];
    CHECK(std::abs(row - 1.0) < 1e-6);
  }
  CHECK(t[15] == 1.f);  // the pristine sample keeps its hard label 0

  // Pixel (b, c, y, x) of the mix is the source visible there (last box on top).
  std::vector<float> px(4 * 3 * 16 * 12);
  for (size_t i = 0; i < px.size(); ++i) px[i] = float(i);
  const Tensor images = Tensor::from_vector(px, {4, 3, 16, 12});
  const std::vector<float> mixed = apply_dsmix_boxes(images, boxes).to_vector();
  for (int b = 0; b < 4; ++b)
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 12; ++x) {
        int64_t src = b;
        for (const DsmixBox& box : boxes[size_t(b)])
          if (y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1) src = box.source;
        for (int c = 0; c < 3; ++c)
          CHECK(mixed[size_t(((b * 3 + c) * 16 + y) * 12 + x)] == px[size_t(((src * 3 + c) * 16 + y) * 12 + x)]);
      }
  CHECK(images.to_vector() == px);  // the input is left alone
}

TEST_CASE("DSMix apply_dsmix_boxes on CUDA matches the CPU", "[dsmix][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const std::vector<int64_t> group = {0, 0, 0, 0, 1, 1, 2};
  const std::vector<bool> pristine = {false, false, false, true, false, false, false};
  const auto boxes = draw_dsmix_boxes(group, pristine, 49, 37, DsmixOptions{}, 11);
  const Tensor cpu = testing::rand_f64({7, 3, 49, 37}).detach().to(DType::F32);
  for (DType dt : {DType::F32, DType::BF16}) {
    const Tensor gpu = cpu.to(dt).to(cuda_device(0));
    const Tensor got = apply_dsmix_boxes(gpu, boxes);
    CHECK(got.is_cuda());
    testing::require_close(got.to(kCPU, DType::F32), apply_dsmix_boxes(cpu.to(dt), boxes).to(DType::F32), 0, 0,
                           "apply_dsmix_boxes cuda");
  }
}

// ---- ground-truth DSM ---------------------------------------------------------------------------------

// 16x16 images, pool 8 -> 2x2 map. Reference: every value 100. Distorted:
//   cell (0,0): channel 0 is 151 everywhere -> D = (51/255)/3 = 1/15 at each pixel, G = 1/15
//   cell (0,1): pixel (3, 12) is 0 in all channels -> D = 100/255 there, G = 100/255/64
//   cell (1,0): channel 2 is 110 on a checkerboard (32 px) -> G = 32 * (10/255)/3 / 64 = 10/1530
//   cell (1,1): unchanged -> G = 0
TEST_CASE("DSM ground truth against a hand computation", "[dsmix]") {
  ImageU8 ref(16, 16, 3), dist(16, 16, 3);
  std::fill(ref.pixels.begin(), ref.pixels.end(), uint8_t(100));
  dist = ref;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      dist.at(y, x, 0) = 151;
      if ((x + y) % 2 == 0) dist.at(8 + y, x, 2) = 110;
    }
  for (int c = 0; c < 3; ++c) dist.at(3, 12, c) = 0;
  const std::vector<float> g = dsm_ground_truth(dist, ref, 8);
  REQUIRE(g.size() == 4);
  const double want[4] = {1.0 / 15, 100.0 / 255 / 64, 10.0 / 1530, 0};
  for (int i = 0; i < 4; ++i) CHECK(std::abs(g[size_t(i)] - want[i]) < 1e-7);

  // The CHW float form from the same pixels in [0,1].
  std::vector<float> d(3 * 256), r(3 * 256), out(4);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) {
        d[size_t((c * 16 + y) * 16 + x)] = dist.at(y, x, c) / 255.f;
        r[size_t((c * 16 + y) * 16 + x)] = ref.at(y, x, c) / 255.f;
      }
  dsm_ground_truth(d.data(), r.data(), 16, 16, 8, out.data());
  for (int i = 0; i < 4; ++i) CHECK(std::abs(out[size_t(i)] - want[i]) < 1e-6);
  CHECK_THROWS_WITH(dsm_ground_truth(dist, ref, 5), Catch::Contains("5x5"));
}

// ---- listings -----------------------------------------------------------------------------------------

TEST_CASE("KADIS-700k layout: type-8 rows in both modes, missing files listed", "[dsmix]") {
  TempDir dir("kadis");
  fs::create_directories(dir.path / "ref_imgs");
  fs::create_directories(dir.path / "dist_imgs");
  {
    std::ofstream csv(dir.file("kadis700k_ref_imgs.csv"));
    csv << "ref_im,dist_type_1,dist_type_2\nalpha-1.png,3,\nbeta-2.png,7,8\ngamma.v2.png,7,\n";
  }
  for (const char* r : {"alpha-1.png", "beta-2.png", "gamma.v2.png"}) touch(dir.file(std::string("ref_imgs/") + r));
  for (int l = 1; l <= 5; ++l) {
    touch(dir.file(distorted_image_name("dist_imgs/alpha-1", 3, l, "bmp")));
    touch(dir.file(distorted_image_name("dist_imgs/beta-2", 7, l, "bmp")));  // what the official script writes
    touch(dir.file(distorted_image_name("dist_imgs/gamma", 7, l, "bmp")));   // stem up to the first '.'
  }
  KadisLayout layout;
  layout.root = dir.path.string();
  layout.type8 = KadisType8::Literal;
  const KadisSet literal = read_kadis_layout(layout);
  CHECK(literal.root == layout.root);
  CHECK(literal.references == std::vector<std::string>{"ref_imgs/alpha-1.png", "ref_imgs/beta-2.png",
                                                        "ref_imgs/gamma.v2.png"});
  REQUIRE(literal.samples.size() == 18);
  CHECK(literal.samples[5].image == "dist_imgs/beta-2_07_01.bmp");
  CHECK(literal.samples[5].type == 7);
  CHECK(literal.samples[9].level == 5);
  CHECK(literal.samples[14].image == "dist_imgs/gamma_07_05.bmp");
  CHECK(literal.samples[15].type == 0);
  CHECK(literal.samples[15].image == "ref_imgs/alpha-1.png");
  CHECK(literal.samples[17].reference == 2);

  // The default reads row 2 as type 8, whose images were never written: one error lists all five.
  layout.type8 = KadisType8::WithType8;
  const std::string msg = error_of([&] { read_kadis_layout(layout); });
  CHECK_THAT(msg, Catch::Contains("5 of the 18 listed files are missing"));
  for (int l = 1; l <= 5; ++l) CHECK_THAT(msg, Catch::Contains(distorted_image_name("beta-2", 8, l, "bmp")));
  CHECK_THAT(msg, Catch::Contains("Literal"));
  for (int l = 1; l <= 5; ++l) touch(dir.file(distorted_image_name("dist_imgs/beta-2", 8, l, "bmp")));
  layout.include_references = false;
  const KadisSet with8 = read_kadis_layout(layout);
  REQUIRE(with8.samples.size() == 15);
  CHECK(with8.samples[5].type == 8);
  CHECK(with8.samples[5].image == "dist_imgs/beta-2_08_01.bmp");
  CHECK(with8.samples[10].type == 7);

  // Many missing files: the first 20 named, the rest counted.
  {
    std::ofstream csv(dir.file("many.csv"));
    csv << "ref_im,dist_type_1,dist_type_2\n";
    for (int i = 0; i < 6; ++i) csv << "img" << i << ".png," << (i + 1) << ",\n";
  }
  layout.csv = "many.csv";
  const std::string many = error_of([&] { read_kadis_layout(layout); });
  CHECK_THAT(many, Catch::Contains("36 of the 36 listed files are missing"));
  CHECK_THAT(many, Catch::Contains("and 16 more"));
  layout.check_files = false;
  CHECK(read_kadis_layout(layout).samples.size() == 30);
  // A bad type names the file and its line.
  { std::ofstream(dir.file("bad.csv")) << "ref_im,dist_type_1,dist_type_2\na.png,4,\nb.png,26,\n"; }
  layout.csv = "bad.csv";
  CHECK_THROWS_WITH(read_kadis_layout(layout), Catch::Contains("bad.csv:3") && Catch::Contains("dist_type_1"));
}

TEST_CASE("iqa-distort CSV round trip and stage-1 rendering of its files", "[dsmix]") {
  TempDir in("refs"), out("dist");
  write_png(in.file("one.png"), textured_image(32, 32, 0));
  write_png(in.file("two.png"), textured_image(32, 32, 5));
  DistortSetOptions o;
  o.input_dir = in.path.string();
  o.output_dir = out.path.string();
  o.types = {1, 10, 13};
  o.levels = {1, 3};
  o.seed = 4;
  generate_distorted_set(o);
  const KadisSet set = read_distort_csv(out.file("distortions.csv"), in.path.string(), true);
  CHECK(set.root.empty());
  CHECK_FALSE(set.on_the_fly);
  REQUIRE(set.references.size() == 2);
  CHECK(set.references[1] == in.file("two.png"));
  REQUIRE(set.samples.size() == 14);
  for (size_t i = 0; i < 12; ++i) {
    const KadisSample& s = set.samples[i];
    const std::string stem = s.reference == 0 ? "one" : "two";
    CHECK(s.image == out.file(distorted_image_name(stem, s.type, s.level, "bmp")));
  }
  CHECK(set.samples[3].type == 10);
  CHECK(set.samples[3].level == 3);
  CHECK(set.samples[13].type == 0);

  // Crop = image size and no flip: the sample is the whole file, its map the whole pair's DSM.
  SampleRenderOptions ro;
  ro.crop = 32;
  ro.flip = false;
  std::vector<float> image(3 * 32 * 32), map(16), want_image(3 * 32 * 32);
  render_dsm_sample(set, 4, 123, ro, image.data(), map.data());
  const ImageU8 dist = decode_image(set.samples[4].image), ref = decode_image(in.file("one.png"));
  normalize_to_chw(dist, want_image.data());
  CHECK(image == want_image);
  CHECK(map == dsm_ground_truth(dist, ref, 8));
  double total = 0;
  for (float v : map) total += v;
  CHECK(total > 0);
  render_dsm_sample(set, 13, 123, ro, image.data(), map.data());  // pristine: zero map
  CHECK(map == std::vector<float>(16, 0.f));

  // A missing file is reported by name.
  fs::remove(set.samples[7].image);
  CHECK_THROWS_WITH(read_distort_csv(out.file("distortions.csv"), in.path.string(), false),
                    Catch::Contains(set.samples[7].image));
}
