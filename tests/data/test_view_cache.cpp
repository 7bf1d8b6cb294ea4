// The decoded-view cache: cached batches byte-identical to uncached ones (both view modes, resizes 256
// and 244, both decode modes, the nine test crops), rebuilds after a changed file or a corrupted shard,
// two processes filling one cache, and a full disk that stops filling but not training.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "training/data/loader.h"
#include "training/dsmix/lp_data.h"
#include "training/image/encode.h"
#include "training/image/view_batch.h"

using namespace iqa;

namespace {

struct CacheTempDir {
  std::filesystem::path path;
  explicit CacheTempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("iqa_test_view_cache_" + tag + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path / "cache");
  }
  ~CacheTempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string cache() const { return (path / "cache").string(); }
};

ImageU8 noisy_image(int w, int h, uint32_t seed) {
  ImageU8 img(w, h, 3);
  uint32_t state = seed * 2654435761u + 7;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        state = state * 1664525u + 1013904223u;
        img.at(y, x, c) = uint8_t(((x * (c + 2)) ^ (y * 3 + int(seed))) + int(state >> 28));
      }
  return img;
}

// Widths chosen so that some resizes commute with flipping and some do not (768 -> 256 does not); the
// 1400x1100 JPEG is decoded at 1/2 scale in Fast mode.
DatasetList make_images(const CacheTempDir& dir) {
  const int sizes[][2] = {{768, 600}, {1400, 1100}, {513, 389}, {640, 480}, {389, 700}, {1000, 333}};
  DatasetList list;
  for (int i = 0; i < 6; ++i) {
    const std::string name = "img" + std::to_string(i) + (i % 2 ? ".jpg" : ".png");
    const ImageU8 img = noisy_image(sizes[i][0], sizes[i][1], uint32_t(i));
    if (i % 2) write_jpeg(dir.file(name), img, 90); else write_png(dir.file(name), img);
    list.entries.push_back({name, double(i), 100 + i % 2});
  }
  return list;
}

LoaderOptions options(const CacheTempDir& dir, LocalViewMode mode, int resize, DecodeMode decode, bool cached) {
  LoaderOptions o;
  o.data_root = dir.path.string();
  o.workers = 2;
  o.seed = 17;
  o.global_resize = resize;
  o.local_view = mode;
  o.mosaic_short_side = 300;
  o.decode = decode;
  o.log_skips = false;
  if (cached) o.cache_dir = dir.cache();
  o.cache_fill_threads = 0;  // inline: exact hit/miss counts (the fill threads have their own tests)
  return o;
}

std::vector<SampledBatch> batches(int count) {
  std::vector<SampledBatch> b;
  for (int k = 0; k < count; ++k) b.push_back({k, {int64_t(k % 6), int64_t((k + 2) % 6), int64_t((k + 5) % 6)}});
  return b;
}

// All planes of an epoch, concatenated.
std::vector<float> epoch_floats(Loader& loader, uint64_t epoch, int count) {
  loader.start_epoch(epoch, batches(count));
  std::vector<float> out;
  while (auto b = loader.next())
    for (size_t p = 0; p < b->planes.size(); ++p)
      out.insert(out.end(), b->planes[p].get(), b->planes[p].get() + size_t(b->size) * b->plane_floats[p]);
  return out;
}

// Six images, cached loader options (256, mosaic) and the uncached loader's epoch 1 of six batches.
struct SharedCacheRun {
  CacheTempDir dir;
  DatasetList list;
  LoaderOptions cached;
  std::vector<float> want;
  SharedCacheRun(const std::string& tag, DecodeMode decode) : dir(tag), list(make_images(dir)) {
    cached = options(dir, LocalViewMode::Mosaic, 256, decode, true);
    Loader plain(list, options(dir, LocalViewMode::Mosaic, 256, decode, false));
    want = epoch_floats(plain, 1, 6);
  }
};

// Runs body() in a forked child, which exits with its result (an exception: 1) and never returns into
// Catch; wait_child gives that exit code, -1 if the child did not exit normally.
pid_t fork_child(const std::function<int()>& body) {
  const pid_t child = fork();
  if (child == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
    }
    _exit(code);
  }
  return child;
}

int wait_child(pid_t child) {
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("Flip commutes with some resizes and not others, twins are stored where it does not", "[data][cache]") {
  CHECK(resize_flip_commutes(4000, 256));
  CHECK(resize_flip_commutes(1024, 896));
  CHECK_FALSE(resize_flip_commutes(768, 256));
  const CachedViewImages e = build_cached_views(noisy_image(768, 600, 1), 256, 300);
  CHECK(e.global.width == 256);
  CHECK_FALSE(e.global_flipped.empty());
  CHECK(e.mosaic.width == 384);
  CHECK(e.mosaic.height == 300);
  CHECK(e.mosaic_flipped.empty() == resize_flip_commutes(768, 384));
  // The checksum sees a single changed byte anywhere.
  std::vector<uint8_t> bytes(1000, 9);
  const uint64_t h = view_cache_hash(bytes.data(), bytes.size());
  for (size_t i : {size_t(0), size_t(31), size_t(500), size_t(999)}) {
    bytes[i] ^= 1;
    CHECK(view_cache_hash(bytes.data(), bytes.size()) != h);
    bytes[i] ^= 1;
  }
}

TEST_CASE("Cached batches are byte-identical to uncached ones, cold and warm, in every mode", "[data][cache]") {
  CacheTempDir dir("modes");
  const DatasetList list = make_images(dir);
  for (LocalViewMode mode : {LocalViewMode::Mosaic, LocalViewMode::SameAsGlobal})
    for (int resize : {256, 244})
      for (DecodeMode decode : {DecodeMode::Exact, DecodeMode::Fast}) {
        std::filesystem::remove_all(dir.cache());
        Loader plain(list, options(dir, mode, resize, decode, false));
        const std::vector<float> want1 = epoch_floats(plain, 1, 4), want2 = epoch_floats(plain, 2, 4);
        {
          LoaderOptions one = options(dir, mode, resize, decode, true);
          one.workers = 1;  // two workers may both miss an image at once (both fill it): exact counts need one
          Loader cold(list, one);
          CHECK(epoch_floats(cold, 1, 4) == want1);  // filling
          CHECK(epoch_floats(cold, 2, 4) == want2);  // from its own entries
          CHECK(cold.stats().cache_misses == 6);
          CHECK(cold.stats().cache_hits == 18);
        }
        Loader warm(list, options(dir, mode, resize, decode, true));  // a new process's view: verifies
        CHECK(epoch_floats(warm, 2, 4) == want2);
        CHECK(warm.stats().cache_hits == 12);
        CHECK(warm.stats().cache_misses == 0);
      }
}

TEST_CASE("Nine test crops cut from the cache equal the rendered test views", "[data][cache]") {
  CacheTempDir dir("nine");
  const DatasetList list = make_images(dir);
  for (int resize : {256, 244})
    for (DecodeMode decode : {DecodeMode::Exact, DecodeMode::Fast})
      for (const DatasetEntry& e : list.entries) {
        const LoaderOptions o = options(dir, LocalViewMode::Mosaic, resize, decode, false);
        const ImageU8 img = decode_image(dir.file(e.image), loader_decode_options(o));
        const CachedViewImages entry = build_cached_views(img, resize, 300);
        std::vector<kernels::ViewGather> views = nine_crop_test_views(0, img.width, img.height, resize, 300);
        for (kernels::ViewGather flipped : std::vector<kernels::ViewGather>(views)) {
          flipped.flip = true;  // flipped gathers too: the training views' other half
          views.push_back(flipped);
        }
        const Tensor want = render_view_batch({&img}, views, DType::U8, kCPU);
        const size_t view_bytes = size_t(3) * 224 * 224;
        for (size_t v = 0; v < views.size(); ++v) {
          const ImageU8 cut = cut_cached_view(entry.view(), views[v]);
          std::vector<uint8_t> chw(view_bytes);
          for (int c = 0; c < 3; ++c)
            for (int i = 0; i < 224 * 224; ++i) chw[size_t(c) * 224 * 224 + size_t(i)] = cut.pixels[size_t(i) * 3 + size_t(c)];
          CHECK(std::memcmp(chw.data(), want.data<uint8_t>() + v * view_bytes, view_bytes) == 0);
          // The warm loader's fused cut + normalise: the same floats, bit for bit.
          std::vector<float> fused(view_bytes), separate(view_bytes);
          cut_cached_view_normalized(entry.view(), views[v], fused.data());
          normalize_to_chw(cut, separate.data());
          CHECK(std::memcmp(fused.data(), separate.data(), view_bytes * sizeof(float)) == 0);
        }
      }
}

TEST_CASE("View cache rebuilds a changed file and a corrupted shard", "[data][cache]") {
  CacheTempDir dir("rebuild");
  DatasetList list = make_images(dir);
  LoaderOptions o = options(dir, LocalViewMode::Mosaic, 256, DecodeMode::Exact, true);
  o.workers = 1;
  const LoaderOptions plain_o = options(dir, LocalViewMode::Mosaic, 256, DecodeMode::Exact, false);
  { Loader fill(list, o); epoch_floats(fill, 1, 2); }
  // A changed image (new size and mtime): its old entry no longer matches.
  write_png(dir.file("img0.png"), noisy_image(700, 500, 42));
  {
    Loader plain(list, plain_o), cached(list, o);
    CHECK(epoch_floats(cached, 3, 2) == epoch_floats(plain, 3, 2));
    CHECK(cached.stats().cache_misses == 1);
    CHECK(cached.stats().cache_hits == 5);
  }
  // Flip one byte in the middle of every shard: each entry read from it fails its checksum.
  for (const auto& f : std::filesystem::directory_iterator(dir.cache())) {
    if (f.path().filename().string().rfind("shard-", 0) != 0) continue;
    std::fstream s(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    const auto mid = std::streamoff(std::filesystem::file_size(f.path()) / 2);
    s.seekg(mid);
    const char c = char(s.get() ^ 0x40);
    s.seekp(mid);
    s.put(c);
  }
  Loader plain(list, plain_o), cached(list, o);
  CHECK(epoch_floats(cached, 4, 2) == epoch_floats(plain, 4, 2));
  CHECK(cached.stats().cache_misses >= 1);
  // Rebuilt: a fresh reader finds every entry again.
  Loader again(list, o);
  CHECK(epoch_floats(again, 5, 2) == epoch_floats(plain, 5, 2));
  CHECK(again.stats().cache_misses == 0);
}

TEST_CASE("Two processes fill one view cache concurrently", "[data][cache]") {
  const SharedCacheRun run("fork", DecodeMode::Fast);
  const DatasetList& list = run.list;
  const LoaderOptions& o = run.cached;
  const std::vector<float>& want = run.want;
  // The child fills while the parent fills: both write their own shard and append to one index.
  const pid_t child = fork_child([&] {
    Loader mine(list, o);
    return epoch_floats(mine, 1, 6) == want ? 0 : 2;
  });
  bool parent_ok = false;
  {
    Loader mine(list, o);
    parent_ok = epoch_floats(mine, 1, 6) == want;
  }
  CHECK(parent_ok);
  CHECK(wait_child(child) == 0);
  Loader reader(list, o);
  CHECK(epoch_floats(reader, 1, 6) == want);
  CHECK(reader.stats().cache_misses == 0);
}

TEST_CASE("A full disk stops filling the view cache with a warning, loading continues uncached", "[data][cache]") {
  const SharedCacheRun run("full", DecodeMode::Exact);
  const DatasetList& list = run.list;
  const LoaderOptions& o = run.cached;
  const std::vector<float>& want = run.want;
  const int code = wait_child(fork_child([&] {
    // A 2 MB file size limit: the first entries fit, then write() fails with EFBIG (the signal it
    // would also raise is ignored, as a full disk raises none).
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{2 << 20, 2 << 20};
    setrlimit(RLIMIT_FSIZE, &lim);
    Loader mine(list, o);
    const bool same = epoch_floats(mine, 1, 6) == want;
    const LoaderStats st = mine.stats();
    return !same ? 2 : st.cache_filling ? 3 : st.cache_hits == 0 ? 4 : 0;
  }));
  CHECK(code == 0);
  // What did get stored is intact and used.
  Loader reader(list, o);
  CHECK(epoch_floats(reader, 1, 6) == want);
  CHECK(reader.stats().cache_hits >= 1);
}

TEST_CASE("Fill threads: the cold epoch renders uncached bytes and the entries are all stored after", "[data][cache]") {
  CacheTempDir dir("threads");
  const DatasetList list = make_images(dir);
  for (LocalViewMode mode : {LocalViewMode::Mosaic, LocalViewMode::SameAsGlobal}) {
    std::filesystem::remove_all(dir.cache());
    Loader plain(list, options(dir, mode, 244, DecodeMode::Exact, false));
    const std::vector<float> want1 = epoch_floats(plain, 1, 4), want2 = epoch_floats(plain, 2, 4);
    LoaderOptions o = options(dir, mode, 244, DecodeMode::Exact, true);
    o.cache_fill_threads = 2;
    {
      Loader cold(list, o);
      CHECK(epoch_floats(cold, 1, 4) == want1);
      cold.finish_cache_fill();
      const LoaderStats st = cold.stats();
      CHECK(st.cache_stored + st.cache_deferred >= 6);  // every image stored, unless deferred
      CHECK(st.cache_stored >= 1);
      CHECK(epoch_floats(cold, 2, 4) == want2);
    }
    // Deferred images missed again in epoch 2 and were offered again; a third pass stores the rest.
    { Loader again(list, o); epoch_floats(again, 3, 4); again.finish_cache_fill(); }
    o.cache_fill_threads = 0;
    Loader warm(list, o);
    CHECK(epoch_floats(warm, 2, 4) == want2);
    CHECK(warm.stats().cache_misses == 0);
  }
}

TEST_CASE("Fill choice: queue while there is room, then inline fills within their CPU share, else defer",
          "[data][cache]") {
  ViewCacheFillOptions o;
  o.threads = 2;
  o.max_queued_bytes = 100;
  CHECK(choose_fill(o, 0, 500, 0, 0) == FillChoice::Queue);   // one image always fits
  CHECK(choose_fill(o, 40, 60, 0, 0) == FillChoice::Queue);
  CHECK(choose_fill(o, 41, 60, 0, 0) == FillChoice::Inline);  // full: the first inline fill is free
  CHECK(choose_fill(o, 41, 60, 0.004, 0.005) == FillChoice::Defer);
  CHECK(choose_fill(o, 41, 60, 0.005, 0.005) == FillChoice::Inline);
  o.threads = 0;
  CHECK(choose_fill(o, 41, 60, -1, 0.005) == FillChoice::Inline);  // no threads: always inline
}

TEST_CASE("Linear-probing crops cut from a whole-image cache entry equal the decoded ones", "[data][cache]") {
  CacheTempDir dir("lp");
  const DatasetList list = make_images(dir);
  ViewCache cache(dir.cache());
  const int crop = 224;
  const size_t per = size_t(3) * crop * crop;
  for (int pass = 0; pass < 2; ++pass)  // cold (each image decoded and stored), then warm (cut from the entry)
    for (const DatasetEntry& e : list.entries) {
      const std::string path = dir.file(e.image);
      for (uint64_t key : {uint64_t(3), uint64_t(11), uint64_t(12345)}) {
        std::vector<float> want(per), got(per);
        training::render_lp_train_view(path, key, crop, want.data());
        training::render_lp_train_view(path, key, crop, got.data(), &cache);
        CHECK(got == want);
      }
      std::vector<float> want(5 * per), got(5 * per);
      training::render_lp_five_crops(path, crop, want.data());
      training::render_lp_five_crops(path, crop, got.data(), &cache);
      CHECK(got == want);
    }
  CHECK(cache.stats().stored == 6);
  CHECK(cache.stats().hits == 6 * 4 * 2 - 6);
}
