// ViewCacheFiller (training/data/view_cache_fill.h).
#include "training/data/view_cache_fill.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace iqa {

double ViewCacheFiller::thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

FillChoice choose_fill(const ViewCacheFillOptions& opts, size_t held, size_t bytes, double credit,
                       double mean_inline_cost) {
  if (opts.threads <= 0) return FillChoice::Inline;
  if (held == 0 || held + bytes <= opts.max_queued_bytes) return FillChoice::Queue;
  // The first inline fill is allowed on no credit (its cost is not known yet); later ones need the
  // credit their average cost takes.
  return credit >= mean_inline_cost ? FillChoice::Inline : FillChoice::Defer;
}

ViewCacheFiller::ViewCacheFiller(ViewCache& cache, ViewCacheFillOptions opts) : cache_(cache), opts_(opts) {
  for (int t = 0; t < opts_.threads; ++t) threads_.emplace_back([this] { thread_loop(); });
}

ViewCacheFiller::~ViewCacheFiller() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ViewCacheFiller::build_and_store(const Job& job) {
  if (!cache_.filling()) return;  // a full disk: the loader goes on uncached
  try {
    cache_.store(job.key, build_cached_views(job.image, opts_.global_resize, opts_.mosaic_short_side));
  } catch (const std::exception& e) {
    // The views of this image were just rendered from it, so building cannot fail on its content;
    // only memory can run out. The image stays uncached.
    std::fprintf(stderr, "view cache: cannot build the entry for %s: %s\n", job.key.c_str(), e.what());
  }
}

void ViewCacheFiller::thread_loop() {
  // Only idle CPU: nice 19 applies to this thread alone on Linux. A failure leaves it at the normal
  // priority, which only costs the loader speed.
  (void)setpriority(PRIO_PROCESS, id_t(syscall(SYS_gettid)), 19);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++building_;
    lock.unlock();
    const double t0 = thread_cpu_seconds();
    build_and_store(job);
    const double cost = thread_cpu_seconds() - t0;
    lock.lock();
    stats_.background_cpu_seconds += cost;
    --building_;
    held_bytes_ -= job.image.pixels.size();
    pending_.erase(job.key);
    ++stats_.background;
    done_cv_.notify_all();
  }
}

void ViewCacheFiller::offer(const std::string& key, ImageU8&& decoded, double render_cpu_seconds) {
  const size_t bytes = decoded.pixels.size();
  std::unique_lock<std::mutex> lock(mu_);
  credit_ += opts_.inline_share * render_cpu_seconds;
  if (pending_.count(key)) return;
  const FillChoice choice = choose_fill(opts_, held_bytes_, bytes, credit_, mean_inline_cost_);
  if (choice == FillChoice::Queue) {
    pending_.insert(key);
    held_bytes_ += bytes;
    queue_.push_back({key, std::move(decoded)});
    lock.unlock();
    work_cv_.notify_one();
    return;
  }
  if (choice == FillChoice::Defer) {
    ++stats_.deferred;
    return;
  }
  pending_.insert(key);
  lock.unlock();
  const double t0 = thread_cpu_seconds();
  build_and_store({key, std::move(decoded)});
  const double cost = thread_cpu_seconds() - t0;
  lock.lock();
  pending_.erase(key);
  ++stats_.inline_fills;
  credit_ -= cost;
  mean_inline_cost_ += (cost - mean_inline_cost_) / double(stats_.inline_fills);
}

void ViewCacheFiller::new_epoch() {
  std::lock_guard<std::mutex> lock(mu_);
  credit_ = std::min(credit_, 0.0);
}

void ViewCacheFiller::finish() {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return queue_.empty() && building_ == 0; });
}

ViewCacheFillStats ViewCacheFiller::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ViewCacheFillStats s = stats_;
  s.queued = int64_t(queue_.size()) + building_;
  return s;
}

}  // namespace iqa
