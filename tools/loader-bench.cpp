// loader-bench: images/s of the training loader (decode + plan + both SIND views + normalise) per worker
// count, on KonIQ-sized (1024x768) and SPAQ-sized (4000x3000) JPEGs generated on the fly.
// (A stand-alone tool rather than an iqa-bench case: iqa-bench times single ops on fixed tensors.)
//
// --cache times the decoded-view cache (training/data/view_cache.h) per worker count: an uncached epoch
// over the distinct files, the cold epochs that fill a fresh cache with them (fill threads, and
// inline), the first warm epoch of a new loader (it verifies each entry's checksum once) and a steady
// warm epoch; then bytes per image and the cache's size for the dataset.
// --compare-decode measures how far the fast (DCT-scaled) decode's views are from the exact ones.
//
// Targets from the data-pipeline issue: >= 400 img/s per core at 1024x768 and >= 100 img/s per core at
// 4000x3000 (the latter through DCT-domain downscaling).
//
// Before the loader runs, each size is also decoded alone on one thread, at the DCT scale the loader
// picks: libjpeg-turbo's cost is a floor no view code can go under (its entropy decoding reads every
// coefficient whatever the scale), so the two lines together say how much the views and the loader add.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <ctime>

#include "training/image/decode.h"
#include "training/image/encode.h"
#include "training/data/loader.h"
#include "training/image/augment_plan.h"
#include "tools/cli_choice.h"
#include "tools/loader_bench_flags.h"
#include "tools/tool_main.h"

using namespace iqa;

namespace {

// Photo-like content: smooth gradients, edges and mild noise, so JPEG sizes and decode costs are
// those of real photographs rather than of flat test cards.
ImageU8 photo_like(int w, int h, uint32_t seed) {
  ImageU8 img(w, h, 3);
  uint32_t state = seed * 2654435761u + 1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      state = state * 1664525u + 1013904223u;
      const int noise = int(state >> 29) - 4;  // mild sensor-like noise
      const double u = double(x) / w, v = double(y) / h;
      const int edge = ((x / (w / 9 + 1)) + (y / (h / 7 + 1))) % 2 ? 40 : 0;
      for (int c = 0; c < 3; ++c) {
        double base = 128 + 90 * std::sin(6.0 * u + 2.0 * c + seed) * std::cos(4.0 * v - c);
        img.at(y, x, c) = uint8_t(std::clamp(int(base) + edge + noise, 0, 255));
      }
    }
  return img;
}

double process_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Times one epoch of `batches` (after a warm-up batch when warm_up) and returns images/s of wall time;
// *per_cpu_second (if given) gets images per second of the process's CPU time, which a busy machine
// does not distort, less the view cache's idle-priority fill threads (they run on CPU the loader
// leaves idle; their CPU is printed apart).
double time_epoch(Loader& loader, uint64_t epoch, const std::vector<SampledBatch>& batches, bool warm_up,
                  double* per_cpu_second = nullptr) {
  loader.start_epoch(epoch, batches);
  if (warm_up) loader.next();
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = process_cpu_seconds(), f0 = loader.stats().cache_fill_cpu_seconds;
  int64_t seen = 0;
  while (auto b = loader.next()) seen += b->size;
  const double fill_cpu = loader.stats().cache_fill_cpu_seconds - f0;
  if (per_cpu_second) *per_cpu_second = double(seen) / (process_cpu_seconds() - c0 - fill_cpu);
  return double(seen) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Uncached, cold (filling) and warm epochs with the view cache, per worker count. The cold epoch is
// timed twice on fresh caches: with the fill threads (the default; the entries they have not stored
// when the epoch ends are finished after it, timed apart) and with every miss filled inline.
void bench_cache(const DatasetList& list, const std::filesystem::path& dir, LoaderOptions o,
                 const std::vector<SampledBatch>& cycled, int w, int h) {
  std::vector<SampledBatch> once;  // every distinct file once: all misses on a cold cache
  for (size_t i = 0; i < list.entries.size(); ++i) once.push_back({int64_t(i), {int64_t(i)}});
  const std::string cache_dir = (dir / "cache").string();
  o.data_root = dir.string();
  double cpu[5];
  const double uncached = [&] { Loader l(list, o); return time_epoch(l, 0, once, false, &cpu[0]); }();
  o.cache_dir = cache_dir;
  std::filesystem::remove_all(cache_dir);
  LoaderOptions inl = o;
  inl.cache_fill_threads = 0;
  const double inline_cold = [&] { Loader l(list, inl); return time_epoch(l, 0, once, false, &cpu[4]); }();
  std::filesystem::remove_all(cache_dir);
  int64_t stored_at_end = 0, deferred = 0;
  double backlog_s = 0, fill_cpu_ms = 0;
  const double cold = [&] {
    Loader l(list, o);
    const double rate = time_epoch(l, 0, once, false, &cpu[1]);
    stored_at_end = l.stats().cache_stored;
    deferred = l.stats().cache_deferred;
    const auto t0 = std::chrono::steady_clock::now();
    l.finish_cache_fill();
    backlog_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fill_cpu_ms = 1e3 * l.stats().cache_fill_cpu_seconds / double(list.entries.size());
    return rate;
  }();
  { Loader fill(list, inl); time_epoch(fill, 0, once, false); }  // what the cold epoch deferred: warm = all hits
  Loader warm(list, o);
  const double first = time_epoch(warm, 1, cycled, true, &cpu[2]), steady = time_epoch(warm, 2, cycled, true, &cpu[3]);
  const int64_t bytes = ViewCache::disk_bytes(cache_dir);
  const size_t n = list.entries.size();
  std::printf("%4dx%-4d  workers %2d  per worker: uncached %7.1f  cold %7.1f (%+.0f%%, %lld/%zu stored at its end, "
              "%lld deferred, the queue %.2f s after)  cold inline %7.1f (%+.0f%%)  warm first %7.1f  warm %8.1f img/s\n",
              w, h, o.workers, uncached / o.workers, cold / o.workers, 100.0 * (cold / uncached - 1),
              (long long)stored_at_end, n, (long long)deferred, backlog_s, inline_cold / o.workers, 100.0 * (inline_cold / uncached - 1),
              first / o.workers, steady / o.workers);
  std::printf("%4dx%-4d  workers %2d  per CPU-second:     uncached %7.1f  cold %7.1f (%+.0f%%; fill threads %.2f ms "
              "per image besides)  cold inline %7.1f (%+.0f%%)  warm first %7.1f  warm %8.1f\n",
              w, h, o.workers, cpu[0], cpu[1], 100.0 * (cpu[1] / cpu[0] - 1), fill_cpu_ms, cpu[4],
              100.0 * (cpu[4] / cpu[0] - 1), cpu[2], cpu[3]);
  std::printf("%4dx%-4d  cache: %.2f MB per image, %.1f MB for the %zu images\n", w, h,
              double(bytes) / 1e6 / double(n), double(bytes) / 1e6, n);
  std::fflush(stdout);
}

// Bytes of the views that differ between the fast and the exact decode, over `samples` training draws.
void compare_decode(const DatasetList& list, const std::filesystem::path& dir, LoaderOptions o, int samples) {
  struct Diff { int64_t differ = 0, total = 0, sum = 0; int max = 0; } global, mosaic;
  auto add = [](Diff& d, const ImageU8& a, const ImageU8& b) {
    for (size_t i = 0; i < a.pixels.size(); ++i) {
      const int v = std::abs(int(a.pixels[i]) - int(b.pixels[i]));
      d.differ += v != 0, d.sum += v, d.max = std::max(d.max, v), ++d.total;
    }
  };
  LoaderOptions fast = o;
  fast.decode = DecodeMode::Fast;
  o.decode = DecodeMode::Exact;
  for (const DatasetEntry& e : list.entries) {
    const std::string path = (dir / e.image).string();
    const ImageU8 exact = decode_image(path, loader_decode_options(o)), scaled = decode_image(path, loader_decode_options(fast));
    for (int k = 0; k < samples; ++k) {
      const uint64_t key = loader_sample_key(1, 0, k);
      const GlobalViewPlan g = draw_global_view_plan(key, o.global_resize, o.crop);
      add(global, render_global_view(exact, g), render_global_view(scaled, g));
      // The same draws: the plan's offsets come from the key; cells differ only by rounding of the size.
      add(mosaic, render_mosaic_view(exact, draw_mosaic_plan(key, exact.width, exact.height, o.mosaic_short_side)),
          render_mosaic_view(scaled, draw_mosaic_plan(key, scaled.width, scaled.height, o.mosaic_short_side)));
    }
  }
  for (auto [name, d] : {std::pair{"global", global}, std::pair{"mosaic", mosaic}})
    std::printf("fast vs exact decode, %s view: %.1f%% of bytes differ, mean |diff| %.2f, max %d gray levels\n", name,
                100.0 * double(d.differ) / double(d.total), double(d.sum) / double(d.total), d.max);
}

}  // namespace

int main(int argc, char** argv) {
  return iqa::tools::tool_main<LoaderBenchArgs>(
      argc, argv, "loader-bench: training-loader throughput per worker count", add_loader_bench_flags,
      [&](LoaderBenchArgs& a, const CLI::App&) {
        finish_loader_bench_args(a);
        const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
        const int images = a.images, distinct = a.distinct, batch = a.batch;
        const std::vector<int>& worker_counts = a.worker_counts;
        const std::string& sizes_arg = a.sizes_arg;
        const LoaderOptions& chosen = a.chosen;
        const bool cache = a.cache, compare = a.compare;
        std::vector<std::pair<int, int>> sizes;
        if (sizes_arg != "spaq") sizes.push_back({1024, 768});
        if (sizes_arg != "koniq") sizes.push_back({4000, 3000});

        const std::filesystem::path dir =
            std::filesystem::temp_directory_path() / ("iqa_loader_bench_" + std::to_string(getpid()));
        std::filesystem::create_directories(dir);
        for (auto [w, h] : sizes) {
          DatasetList list;
          for (int i = 0; i < distinct; ++i) {
            const std::string name = std::to_string(w) + "x" + std::to_string(h) + "_" + std::to_string(i) + ".jpg";
            write_jpeg((dir / name).string(), photo_like(w, h, uint32_t(i + 1)), 90);
            list.entries.push_back({name, double(i), 100 + i % 2});
          }
          std::vector<SampledBatch> batches;
          for (int b = 0; b * batch < images + batch; ++b) {  // one extra batch: warm-up
            SampledBatch sb{b, {}};
            for (int s = 0; s < batch; ++s) sb.indices.push_back((b * batch + s) % distinct);
            batches.push_back(sb);
          }
          {
            const LoaderOptions defaults = chosen;
            if (compare) compare_decode(list, dir, defaults, 64);
            const DecodeOptions d = loader_decode_options(defaults);
            double bytes = 0;
            for (const auto& e : list.entries) bytes += double(std::filesystem::file_size(dir / e.image));
            const int reps = std::max(1, images / distinct);
            const auto t0 = std::chrono::steady_clock::now();
            for (int r = 0; r < reps; ++r)
              for (const auto& e : list.entries) (void)decode_image((dir / e.image).string(), d);
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("%4dx%-4d  decode only, 1/%d DCT scale, %.2f bits/pixel files: %8.1f img/s on one thread\n", w,
                        h, jpeg_scale_denominator(w, h, d.min_short_side), 8 * bytes / distinct / (double(w) * h),
                        double(reps) * distinct / secs);
          }
          for (int workers : worker_counts) {
            LoaderOptions o = chosen;
            o.data_root = dir.string();
            o.workers = workers;
            o.prefetch_batches = std::max(2, workers);
            if (cache) {
              bench_cache(list, dir, o, batches, w, h);
              continue;
            }
            Loader loader(list, o);
            const double rate = time_epoch(loader, 0, batches, true);  // after a warm-up batch: threads, pool
            std::printf("%4dx%-4d  workers %2d  %8.1f img/s  %7.1f img/s per worker\n", w, h, workers, rate,
                        rate / workers);
            std::fflush(stdout);
          }
        }
        std::filesystem::remove_all(dir);
        std::printf("(%d cores; %s decode; local view: %s; views 224x224 from a 256 squash-resize%s)\n", cores,
                    training::choice_name(chosen.decode), training::choice_name(chosen.local_view),
                    chosen.local_view == LocalViewMode::Mosaic ? " and a 672-short-side mosaic" : "");
        return 0;
      });
}
