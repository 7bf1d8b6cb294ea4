// The threaded loader: byte-identical batches for any worker count, pixels equal to a direct render of
// each sample's plan, the skip and fail policies for bad images, and shutdown mid-epoch.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <unistd.h>

#include "training/image/encode.h"
#include "training/data/loader.h"
#include "tests/testing.h"

using namespace iqa;
using iqa::testing::TempDir;

namespace {

ImageU8 pattern_image(int w, int h, int seed) {
  ImageU8 img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = uint8_t((x * (c + 1) + y * (seed + 2) + ((x / 17 + y / 13) % 2) * 90) & 255);
  return img;
}

// Ten images of a few sizes (PNG and JPEG; the 640x800 JPEG is decoded at 1/2 scale) in two scenes.
DatasetList make_images(const TempDir& dir) {
  DatasetList list;
  for (int i = 0; i < 10; ++i) {
    const int w = 320 + 13 * i, h = 300 + 7 * (i % 3);
    std::string name = "img" + std::to_string(i) + (i % 3 == 0 ? ".jpg" : ".png");
    if (i == 4) {
      name = "big4.jpg";
      write_jpeg(dir.file(name), pattern_image(640, 800, i), 92);
    } else if (i % 3 == 0) {
      write_jpeg(dir.file(name), pattern_image(w, h, i), 92);
    } else {
      write_png(dir.file(name), pattern_image(w, h, i));
    }
    list.entries.push_back({name, 10.0 + i, i % 2 ? 101 : 104});
  }
  return list;
}

LoaderOptions small_options(const TempDir& dir, int workers) {
  LoaderOptions o;
  o.data_root = dir.path.string();
  o.workers = workers;
  o.prefetch_batches = 2;
  o.seed = 99;
  o.decode = DecodeMode::Fast;  // these tests predate the exact default and check the DCT-scaled path
  o.mosaic_short_side = 300;  // cells of 42 pixels: small images, fast test
  o.log_skips = false;
  return o;
}

std::vector<SampledBatch> scene_batches(const DatasetList& list, uint64_t epoch) {
  std::vector<int> domains;
  for (const auto& e : list.entries) domains.push_back(e.domain_id);
  SceneSamplerOptions so;
  so.chunk_size = 2;
  so.chunks_per_batch = 2;
  so.seed = 5;
  return SceneSampler(domains, so).epoch_batches(epoch);
}

std::vector<Batch> drain(Loader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

bool same_floats(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

}  // namespace

TEST_CASE("Loader batches are byte-identical for 1 and 3 workers and match a direct render", "[data][loader]") {
  TempDir dir;
  const DatasetList list = make_images(dir);
  const std::vector<SampledBatch> batches = scene_batches(list, 1);
  REQUIRE(batches.size() == 3);  // scenes of 5 and 5 -> padded 6 + 6 = 12 -> 3 batches of 4

  Loader one(list, small_options(dir, 1)), three(list, small_options(dir, 3));
  one.start_epoch(1, batches);
  three.start_epoch(1, batches);
  std::vector<Batch> a = drain(one), b = drain(three);
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  for (size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].number == int64_t(k));
    CHECK(a[k].size == 4);
    CHECK(a[k].indices == batches[k].indices);
    CHECK(b[k].indices == a[k].indices);
    CHECK(b[k].scores == a[k].scores);
    CHECK(b[k].domain_ids == a[k].domain_ids);
    CHECK(same_floats(a[k].global_view.get(), b[k].global_view.get(), a[k].view_floats()));
    CHECK(same_floats(a[k].local_view.get(), b[k].local_view.get(), a[k].view_floats()));
    for (int s = 0; s < a[k].size; ++s) {
      const DatasetEntry& e = list.entries[size_t(a[k].indices[size_t(s)])];
      CHECK(a[k].scores[size_t(s)] == float(e.score));
      CHECK(a[k].domain_ids[size_t(s)] == e.domain_id);
    }
  }
  // Slot 1 of batch 2, rendered by hand from its key: position 2 x 4 + 1 in the epoch's order.
  const LoaderOptions o = small_options(dir, 1);
  const ImageU8 img = decode_image(dir.file(list.entries[size_t(a[2].indices[1])].image), loader_decode_options(o));
  std::vector<float> g(3 * 224 * 224), l(3 * 224 * 224);
  render_training_views(img, loader_sample_key(o.seed, 1, 2 * 4 + 1), o, g.data(), l.data());
  CHECK(same_floats(a[2].global_view.get() + g.size(), g.data(), g.size()));
  CHECK(same_floats(a[2].local_view.get() + l.size(), l.data(), l.size()));
  // The big JPEG was DCT-downscaled (short side 800/2 = 400 >= 300).
  CHECK(loader_decode_options(o).min_short_side == 300);
  CHECK(loader_decode_options(LoaderOptions{}).min_short_side == 0);  // the default decodes exactly
  CHECK(training::parse_choice<DecodeMode>("fast") == DecodeMode::Fast);
  CHECK_THROWS_WITH(training::parse_choice<DecodeMode>("dct"), "--decode must be exact or fast, got 'dct'");
  CHECK(decode_image(dir.file("big4.jpg"), loader_decode_options(o)).width == 320);

  Tensor t = a[0].global_tensor();
  CHECK(t.shape() == Shape{4, 3, 224, 224});
  CHECK(t.data<float>()[5] == a[0].global_view.get()[5]);

  // Another epoch draws other crops.
  three.start_epoch(2, batches);
  std::vector<Batch> c = drain(three);
  REQUIRE(c.size() == 3);
  CHECK_FALSE(same_floats(a[0].global_view.get(), c[0].global_view.get(), a[0].view_floats()));
  CHECK(three.stats().images_loaded == 24);
  CHECK(three.stats().images_skipped == 0);
}

TEST_CASE("Loader SameAsGlobal mode shares the global view", "[data][loader]") {
  TempDir dir;
  const DatasetList list = make_images(dir);
  LoaderOptions o = small_options(dir, 2);
  o.local_view = LocalViewMode::SameAsGlobal;
  o.global_resize = 244;
  Loader loader(list, o);
  loader.start_epoch(0, {SampledBatch{7, {3, 1}}});
  std::optional<Batch> b = loader.next();
  REQUIRE(b);
  CHECK(b->number == 7);
  CHECK(b->local_view.get() == b->global_view.get());
  CHECK_FALSE(loader.next());
  CHECK(loader_decode_options(o).min_short_side == 244);
}

TEST_CASE("Loader skip policy drops bad images, logs and counts them", "[data][loader]") {
  TempDir dir;
  DatasetList list = make_images(dir);
  { std::ofstream(dir.file("broken.jpg"), std::ios::binary) << "\xFF\xD8\xFF garbage"; }
  list.entries.push_back({"broken.jpg", 1.0, 101});  // index 10
  list.entries.push_back({"gone.png", 2.0, 104});    // index 11, never written
  LoaderOptions o = small_options(dir, 3);
  o.bad_image = BadImagePolicy::Skip;
  Loader skipping(list, o), reference(list, small_options(dir, 1));
  const std::vector<SampledBatch> batches = {{0, {0, 10, 2, 3}}, {1, {11, 10}}, {2, {5, 6}}};
  skipping.start_epoch(0, batches);
  std::vector<Batch> got = drain(skipping);
  REQUIRE(got.size() == 2);  // batch 1 held only bad images
  CHECK(got[0].size == 3);
  CHECK(got[0].indices == std::vector<int64_t>{0, 2, 3});
  CHECK(got[0].scores == std::vector<float>{10.f, 12.f, 13.f});
  CHECK(got[1].number == 2);
  // Kept samples keep their slot's draws: slots 2 and 3 of batch 0 are now at positions 1 and 2.
  reference.start_epoch(0, {{0, {0, 1, 2, 3}}});
  std::optional<Batch> full = reference.next();
  REQUIRE(full);
  const size_t n = size_t(3 * 224 * 224);
  CHECK(same_floats(got[0].global_view.get(), full->global_view.get(), n));
  CHECK(same_floats(got[0].global_view.get() + n, full->global_view.get() + 2 * n, 2 * n));
  CHECK(same_floats(got[0].local_view.get() + n, full->local_view.get() + 2 * n, 2 * n));

  LoaderStats st = skipping.stats();
  CHECK(st.images_skipped == 3);
  CHECK(st.images_loaded == 5);
  REQUIRE(st.skipped.size() == 3);
  CHECK_THAT(st.skipped[0], Catch::Contains("broken.jpg"));
  CHECK_THAT(st.skipped[1], Catch::Contains("gone.png"));
  CHECK_THAT(st.skipped[2], Catch::Contains("broken.jpg"));
}

TEST_CASE("Loader fail policy propagates the error naming the file", "[data][loader]") {
  TempDir dir;
  DatasetList list = make_images(dir);
  { std::ofstream(dir.file("trunc.png"), std::ios::binary) << "\x89PNG\r\n\x1a\n\0\0"; }
  list.entries.push_back({"trunc.png", 1.0, 101});  // index 10
  for (int workers : {1, 4}) {
    Loader loader(list, small_options(dir, workers));
    loader.start_epoch(0, {{0, {0, 1}}, {1, {2, 10, 3}}, {2, {4, 5}}, {3, {6, 7}}});
    std::optional<Batch> first = loader.next();
    REQUIRE(first);
    CHECK(first->size == 2);
    std::string msg;
    try {
      loader.next();
    } catch (const iqa::Error& e) {
      msg = e.what();
    }
    CHECK_THAT(msg, Catch::Contains("batch 1, dataset entry 10"));
    CHECK_THAT(msg, Catch::Contains(dir.file("trunc.png")));
    CHECK_THROWS_WITH(loader.next(), Catch::Contains("trunc.png"));  // the epoch stays failed
    // A fresh epoch works again.
    loader.start_epoch(1, {{0, {0, 1}}});
    CHECK(loader.next()->size == 2);
  }
  // An image too small for the mosaic is a bad image too, named by its path.
  LoaderOptions tiny = small_options(dir, 2);
  tiny.mosaic_short_side = 200;  // cells of 28 < 32 pixels
  Loader loader(list, tiny);
  loader.start_epoch(0, {{0, {1}}});
  CHECK_THROWS_WITH(loader.next(), Catch::Contains(dir.file("img1.png")));
}

TEST_CASE("Loader shuts down cleanly mid-epoch and can abandon an epoch", "[data][loader]") {
  TempDir dir;
  const DatasetList list = make_images(dir);
  std::vector<SampledBatch> many;
  for (int b = 0; b < 40; ++b) many.push_back({b, {int64_t(b % 10), int64_t((b + 3) % 10)}});
  {
    Loader loader(list, small_options(dir, 3));
    loader.start_epoch(0, many);
    REQUIRE(loader.next());
    // Abandon the epoch for another one, then destroy with work still queued.
    loader.start_epoch(1, many);
    std::optional<Batch> b = loader.next();
    REQUIRE(b);
    CHECK(b->number == 0);
    loader.start_epoch(2, many);
  }  // the destructor must join without hanging
  // Batches outlive their loader.
  std::optional<Batch> kept;
  {
    Loader loader(list, small_options(dir, 2));
    loader.start_epoch(0, {{0, {1, 2}}});
    kept = loader.next();
  }
  REQUIRE(kept);
  CHECK(kept->size == 2);
  CHECK(std::isfinite(kept->global_view.get()[kept->view_floats() - 1]));
  CHECK(training::parse_choice<BadImagePolicy>("skip") == BadImagePolicy::Skip);
  CHECK_THROWS_WITH(training::parse_choice<BadImagePolicy>("ignore"), "--bad-image must be fail or skip, got 'ignore'");
}

TEST_CASE("Loader generic constructor: planes of two sizes, any worker count, bad samples", "[data][loader]") {
  // Plane 0: 5 floats from the item index; plane 1: 3 floats from the sample key, so each slot's
  // content says which key it was rendered with. Item 4 stands for an undecodable file.
  const SampleRenderFn render = [](int64_t index, uint64_t key, float* const* planes) {
    if (index == 4) fail("/data/bad4.png: not an image");
    for (int j = 0; j < 5; ++j) planes[0][j] = float(index) * 10.f + float(j);
    for (int j = 0; j < 3; ++j) planes[1][j] = float((key >> (16 * j)) & 0xFFFF);
  };
  auto options = [](int workers, BadImagePolicy policy) {
    LoaderOptions o;
    o.workers = workers;
    o.prefetch_batches = 2;
    o.seed = 21;
    o.bad_image = policy;
    o.log_skips = false;
    return o;
  };
  const std::vector<SampledBatch> batches = {{0, {0, 1, 2}}, {1, {6, 5, 3}}, {2, {1}}, {3, {2, 0, 6}}};
  Loader one(7, {5, 3}, render, options(1, BadImagePolicy::Fail));
  Loader four(7, {5, 3}, render, options(4, BadImagePolicy::Fail));
  one.start_epoch(3, batches);
  four.start_epoch(3, batches);
  std::vector<Batch> a = drain(one), b = drain(four);
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  for (size_t k = 0; k < a.size(); ++k) {
    REQUIRE(a[k].size == int(batches[k].indices.size()));
    CHECK(a[k].indices == batches[k].indices);
    CHECK(a[k].plane_floats == std::vector<size_t>{5, 3});
    CHECK(a[k].scores.empty());
    CHECK_FALSE(a[k].global_view);
    REQUIRE(a[k].planes.size() == 2);
    CHECK(same_floats(a[k].planes[0].get(), b[k].planes[0].get(), size_t(a[k].size) * 5));
    CHECK(same_floats(a[k].planes[1].get(), b[k].planes[1].get(), size_t(a[k].size) * 3));
    for (int s = 0; s < a[k].size; ++s) {
      // Positions use the epoch's largest batch (3) as the stride, so they stay distinct.
      const uint64_t key = loader_sample_key(21, 3, a[k].number * 3 + s);
      CHECK(a[k].planes[0].get()[s * 5 + 4] == float(a[k].indices[size_t(s)]) * 10.f + 4.f);
      CHECK(a[k].planes[1].get()[s * 3 + 1] == float((key >> 16) & 0xFFFF));
    }
  }
  const Tensor t = a[1].plane_tensor(0, {5});
  CHECK(t.shape() == Shape{3, 5});
  CHECK(t.data<float>()[5] == 50.f);  // slot 1 holds item 5
  CHECK(a[3].plane_tensor(1, {1, 3}).shape() == Shape{3, 1, 3});
  CHECK_THROWS_WITH(a[1].plane_tensor(1, {4}), Catch::Contains("plane 1"));
  CHECK_THROWS_WITH(a[1].global_tensor(), Catch::Contains("generic loader"));
  CHECK_THROWS_WITH(one.start_epoch(0, {{0, {7}}}), Catch::Contains("index 7"));

  // Fail policy: the error names the file and the entry.
  const std::vector<SampledBatch> with_bad = {{0, {0, 1}}, {1, {2, 4, 3}}, {2, {5, 6}}};
  for (int workers : {1, 3}) {
    Loader failing(7, {5, 3}, render, options(workers, BadImagePolicy::Fail));
    failing.start_epoch(0, with_bad);
    REQUIRE(failing.next());
    CHECK_THROWS_WITH(failing.next(), Catch::Contains("batch 1, dataset entry 4") && Catch::Contains("bad4.png"));
  }
  // Skip policy: the sample is dropped, later slots keep their own keys (positions at stride 3).
  Loader skipping(7, {5, 3}, render, options(3, BadImagePolicy::Skip));
  skipping.start_epoch(0, with_bad);
  std::vector<Batch> got = drain(skipping);
  REQUIRE(got.size() == 3);
  REQUIRE(got[1].size == 2);
  CHECK(got[1].indices == std::vector<int64_t>{2, 3});
  CHECK(got[1].planes[0].get()[5] == 30.f);
  CHECK(got[1].planes[1].get()[3] == float(loader_sample_key(21, 0, 1 * 3 + 2) & 0xFFFF));
  CHECK(skipping.stats().images_skipped == 1);
  REQUIRE(skipping.stats().skipped.size() == 1);
  CHECK_THAT(skipping.stats().skipped[0], Catch::Contains("bad4.png"));
  CHECK_THROWS_WITH(Loader(7, {5, 0}, render, options(1, BadImagePolicy::Fail)), Catch::Contains("plane 1"));
}

TEST_CASE("Loader keys follow the epoch position: two ranks of batch 2 draw what one process of batch 4 draws",
          "[data][loader]") {
  // Each sample records its item and its key; W ranks take batches r, r + W, ... of the epoch's order.
  const SampleRenderFn render = [](int64_t index, uint64_t key, float* const* planes) {
    planes[0][0] = float(index);
    planes[0][1] = float(key & 0xFFFFFF);
    planes[0][2] = float((key >> 24) & 0xFFFFFF);
  };
  LoaderOptions o;
  o.seed = 5;
  o.workers = 2;
  const std::vector<int64_t> order = {7, 3, 0, 5, 1, 6, 2, 4};
  auto keys_by_item = [&](const std::vector<std::vector<SampledBatch>>& per_rank) {
    std::map<int64_t, std::pair<float, float>> seen;
    for (const auto& batches : per_rank) {
      Loader loader(8, {3}, render, o);
      loader.start_epoch(2, batches);
      for (const Batch& b : drain(loader))
        for (int s = 0; s < b.size; ++s) {
          const float* p = b.planes[0].get() + 3 * s;
          seen[int64_t(p[0])] = {p[1], p[2]};
        }
    }
    return seen;
  };
  const auto single = keys_by_item({shard_batches(order, 4, 1, 0)});
  const auto two = keys_by_item({shard_batches(order, 2, 2, 0), shard_batches(order, 2, 2, 1)});
  REQUIRE(single.size() == 8);
  CHECK(two == single);
  std::set<std::pair<float, float>> distinct;
  for (const auto& [item, key] : single) distinct.insert(key);
  CHECK(distinct.size() == 8);  // every position its own draw
}
