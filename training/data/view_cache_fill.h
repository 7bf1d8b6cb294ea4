// Filling the view cache off the loader's critical path (issue 20: a cold epoch at most 10% slower
// than an uncached one).
//
// Building an entry costs more than rendering the two views it replaces: the full 672-short-side
// resize is about ten times the pixels of the mosaic's cells, and the entry is hashed and written.
// So a worker that misses renders its views uncached (the same bytes as cutting them from the entry)
// and offers the decoded image here. Fill threads at the lowest CPU priority (nice 19) build and store
// the queued entries: on cores the loader leaves idle (a GPU-bound run, fewer workers than cores) the
// cache fills during the cold epoch at no cost to it. When the queue is full, because the loader
// keeps every core busy and the fill threads starve, the worker that missed builds the entry itself,
// but only while such inline fills have cost at most 10% of the CPU time its uncached renders took:
// a saturated machine still fills the cache, over a few epochs, and no epoch pays more than ~10%.
// An offer that fits neither is deferred: the image misses again next epoch and is offered again.
//
// Memory: the queue holds decoded images up to max_queued_bytes (at least one), counting those being
// built. threads == 0 fills every offer inline at once (exact hit/miss counts for tests).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "training/data/view_cache.h"

namespace iqa {

struct ViewCacheFillOptions {
  int threads = 1;
  size_t max_queued_bytes = size_t(64) << 20;
  double inline_share = 0.05;  // inline fills may cost this share of the misses' uncached render time
  int global_resize = 256;
  int mosaic_short_side = 672;  // 0: entries without a mosaic
};

struct ViewCacheFillStats {
  int64_t background = 0;  // entries built by the fill threads
  int64_t inline_fills = 0;  // ... by the workers that missed
  int64_t deferred = 0;    // offers left for a later epoch
  int64_t queued = 0;      // images waiting or being built now
  double background_cpu_seconds = 0;  // CPU time the fill threads spent building and storing
};

// What offer() does with an image of `bytes` when `held` bytes are queued or being built and inline
// fills have `credit` CPU seconds left, having cost mean_inline_cost each so far.
enum class FillChoice { Queue, Inline, Defer };
FillChoice choose_fill(const ViewCacheFillOptions& opts, size_t held, size_t bytes, double credit,
                       double mean_inline_cost);

class ViewCacheFiller {
 public:
  ViewCacheFiller(ViewCache& cache, ViewCacheFillOptions opts);
  ~ViewCacheFiller();  // drops what is still queued; entries being built are finished
  ViewCacheFiller(const ViewCacheFiller&) = delete;
  ViewCacheFiller& operator=(const ViewCacheFiller&) = delete;

  // After a miss on `key` whose views were rendered uncached from `decoded` in render_cpu_seconds of
  // the calling thread's CPU time. Thread-safe; an image already queued under the key is not queued twice.
  void offer(const std::string& key, ImageU8&& decoded, double render_cpu_seconds);
  // At an epoch's start: unspent inline credit lapses (a debt stays), so each epoch keeps to its share.
  void new_epoch();
  // Waits until every queued image is stored (benchmarks, tests).
  void finish();
  ViewCacheFillStats stats() const;

  // CPU time of the calling thread, in seconds.
  static double thread_cpu_seconds();

 private:
  struct Job {
    std::string key;
    ImageU8 image;
  };
  void thread_loop();
  void build_and_store(const Job& job);

  ViewCache& cache_;
  const ViewCacheFillOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Job> queue_;
  std::unordered_set<std::string> pending_;  // queued, being built, or being filled inline
  size_t held_bytes_ = 0;                    // of queued images and those being built
  int building_ = 0;
  bool stop_ = false;
  double credit_ = 0;           // CPU seconds inline fills may still spend
  double mean_inline_cost_ = 0;  // of the inline fills so far
  ViewCacheFillStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace iqa
