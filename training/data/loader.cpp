// The threaded loader (see loader.h).
//
// Shared state, all under one mutex: the epoch's batches, the next sample to claim (samples are claimed
// strictly in batch/slot order), the next batch to deliver, and the number of workers busy outside the
// lock. A worker renders its sample into the batch's buffers without holding the lock (slots are
// disjoint), then records the outcome. The consumer waits for the next batch in order to complete.
//
// Everything renders through a SampleRenderFn into per-sample float planes; SIND's listing is one such
// function (decode + the global and local views), with its scores and domain ids attached at delivery.
#include "training/data/loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "engine/pinned_memory.h"
#include "training/image/augment_plan.h"
#include "training/image/view_batch.h"

namespace iqa {

namespace {

constexpr int64_t kMaxBatchSize = int64_t(1) << 20;  // a sanity bound on one batch

Tensor view_tensor(const std::shared_ptr<float>& data, const Shape& shape) {
  IQA_CHECK(data != nullptr, "Batch: no memory behind a ", shape_str(shape), " view (a SIND view of a batch from "
            "the generic loader?)");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::wrap(data.get(), size_t(shape_numel(shape)) * sizeof(float), kCPU, data);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = DType::F32;
  return Tensor(impl);
}

// Fixed-size host blocks, recycled: a Batch's deleter hands its block back here (the pool outlives
// the Loader while batches are alive, because each deleter holds a reference to it).
class BlockPool : public std::enable_shared_from_this<BlockPool> {
 public:
  BlockPool(size_t nbytes, bool pinned) : nbytes_(nbytes), pinned_(pinned) {}
  ~BlockPool() {
    for (const HostBlock& b : free_) free_host_block(b);
  }
  // *pinned_out: whether this block is page-locked (allocation falls back to ordinary memory).
  std::shared_ptr<float> acquire(bool* pinned_out) {
    HostBlock b;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
      }
    }
    if (!b.data) b = allocate_host_block(nbytes_, pinned_);
    *pinned_out = b.pinned;
    std::shared_ptr<BlockPool> self = shared_from_this();
    return std::shared_ptr<float>(static_cast<float*>(b.data), [self, b](float*) { self->give_back(b); });
  }
 private:
  void give_back(const HostBlock& b) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(b);
  }
  size_t nbytes_;
  bool pinned_;
  std::mutex mu_;
  std::vector<HostBlock> free_;
};

struct PendingBatch {
  SampledBatch spec;
  std::once_flag allocated;
  std::vector<std::shared_ptr<float>> planes;
  bool pinned = false;
  std::vector<std::string> skip_reason;  // per slot; non-empty = skipped
  int remaining = 0;
  bool failed = false;
  int error_slot = -1;
  std::string error;
};

}  // namespace

Tensor Batch::global_tensor() const { return view_tensor(global_view, {size, 3, crop, crop}); }
Tensor Batch::local_tensor() const { return view_tensor(local_view, {size, 3, crop, crop}); }

Tensor Batch::plane_tensor(size_t p, const Shape& per_sample_shape) const {
  IQA_CHECK(p < planes.size() && p < plane_floats.size(), "Batch::plane_tensor: plane ", p, " of a batch with ",
            planes.size(), " planes");
  IQA_CHECK(shape_numel(per_sample_shape) == int64_t(plane_floats[p]), "Batch::plane_tensor: per-sample shape ",
            shape_str(per_sample_shape), " holds ", shape_numel(per_sample_shape), " floats, plane ", p, " has ",
            plane_floats[p], " per sample");
  Shape shape = {int64_t(size)};
  shape.insert(shape.end(), per_sample_shape.begin(), per_sample_shape.end());
  return view_tensor(planes[p], shape);
}

struct Loader::State {
  int64_t num_items = 0;
  std::vector<size_t> plane_floats;  // per sample, per plane
  SampleRenderFn render;
  bool sind = false;  // a SIND listing: scores, domain ids and global/local views on each batch
  DatasetList list;   // SIND listings only
  std::unique_ptr<ViewCache> cache;  // SIND listings with opts.cache_dir only
  std::unique_ptr<ViewCacheFiller> filler;  // ... unless entries are filled inline
  std::vector<std::shared_ptr<BlockPool>> pools;  // per plane
  std::vector<size_t> pool_bytes;                 // block size of each pool: the largest batch's plane

  mutable std::mutex mu;
  std::condition_variable work_cv, ready_cv, idle_cv;
  bool stop = false;
  bool claiming = false;  // an epoch is open for claims
  uint64_t epoch = 0;
  int64_t batch_stride = 0;  // the epoch's batch size: a sample's position is number * stride + slot
  std::vector<std::unique_ptr<PendingBatch>> batches;
  size_t claim_batch = 0, claim_slot = 0;
  size_t delivered = 0;
  int active = 0;
  std::string epoch_error;  // set once next() has thrown for this epoch
  LoaderStats stats;
  std::vector<std::thread> threads;
};

Loader::Loader(DatasetList list, LoaderOptions opts) : opts_(std::move(opts)), state_(std::make_unique<State>()) {
  IQA_CHECK(opts_.local_view != LocalViewMode::Mosaic || opts_.crop == kMosaicSize, "Loader: the mosaic view is ",
            kMosaicSize, "x", kMosaicSize, ", so crop must be ", kMosaicSize, " in Mosaic mode (got ", opts_.crop,
            ")");
  IQA_CHECK(!list.entries.empty(), "Loader: empty dataset listing");
  State& s = *state_;
  s.sind = true;
  s.list = std::move(list);
  s.num_items = int64_t(s.list.entries.size());
  const size_t view_floats = size_t(3) * size_t(opts_.crop) * size_t(opts_.crop);
  const bool mosaic = opts_.local_view == LocalViewMode::Mosaic;
  s.plane_floats = mosaic ? std::vector<size_t>{view_floats, view_floats} : std::vector<size_t>{view_floats};
  if (!opts_.cache_dir.empty()) {
    s.cache = std::make_unique<ViewCache>(opts_.cache_dir);
    const int threads = opts_.cache_fill_threads < 0 ? opts_.workers : opts_.cache_fill_threads;
    if (threads > 0)
      s.filler = std::make_unique<ViewCacheFiller>(
          *s.cache, ViewCacheFillOptions{threads, size_t(64) << 20, 0.05, opts_.global_resize,
                                         mosaic ? opts_.mosaic_short_side : 0});
  }
  // The loader (and so this State) outlives every call of its render function.
  s.render = sind_render_function(s.list, opts_, s.cache.get(), s.filler.get());
  start_workers();
}

Loader::Loader(int64_t num_items, std::vector<size_t> plane_floats, SampleRenderFn render, LoaderOptions opts)
    : opts_(std::move(opts)), state_(std::make_unique<State>()) {
  IQA_CHECK(num_items > 0, "Loader: no items to load (num_items = ", num_items, ")");
  IQA_CHECK(!plane_floats.empty(), "Loader: a sample needs at least one plane");
  for (size_t p = 0; p < plane_floats.size(); ++p)
    IQA_CHECK(plane_floats[p] > 0, "Loader: plane ", p, " has no floats per sample");
  IQA_CHECK(bool(render), "Loader: no render function");
  State& s = *state_;
  s.num_items = num_items;
  s.plane_floats = std::move(plane_floats);
  s.render = std::move(render);
  start_workers();
}

void Loader::start_workers() {
  IQA_CHECK(opts_.workers >= 1, "Loader: workers must be >= 1, got ", opts_.workers);
  IQA_CHECK(opts_.prefetch_batches >= 1, "Loader: prefetch_batches must be >= 1, got ", opts_.prefetch_batches);
  State& s = *state_;
  s.pools.resize(s.plane_floats.size());
  s.pool_bytes.assign(s.plane_floats.size(), 0);
  for (int w = 0; w < opts_.workers; ++w) s.threads.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->work_cv.notify_all();
  for (std::thread& t : state_->threads) t.join();
}

void Loader::start_epoch(uint64_t epoch, std::vector<SampledBatch> batches) {
  State& s = *state_;
  size_t max_size = 0;
  for (const SampledBatch& b : batches) {
    max_size = std::max(max_size, b.indices.size());
    for (int64_t idx : b.indices)
      IQA_CHECK(idx >= 0 && idx < s.num_items, "Loader::start_epoch: batch ", b.number, " lists index ", idx,
                " outside the dataset's ", s.num_items, " entries");
  }
  IQA_CHECK(int64_t(max_size) < kMaxBatchSize, "Loader::start_epoch: batch of ", max_size, " images is too large");
  std::unique_lock<std::mutex> lock(s.mu);
  // Abandon the previous epoch: no new claims, then wait for samples being rendered into its buffers.
  s.claiming = false;
  s.idle_cv.wait(lock, [&] { return s.active == 0; });
  for (size_t p = 0; p < s.plane_floats.size(); ++p) {
    const size_t plane_bytes = max_size * s.plane_floats[p] * sizeof(float);
    if (!s.pools[p] || plane_bytes > s.pool_bytes[p]) {
      s.pools[p] = std::make_shared<BlockPool>(plane_bytes, opts_.pinned);
      s.pool_bytes[p] = plane_bytes;
    }
  }
  s.batches.clear();
  for (SampledBatch& b : batches) {
    auto p = std::make_unique<PendingBatch>();
    p->remaining = int(b.indices.size());
    p->skip_reason.resize(b.indices.size());
    p->spec = std::move(b);
    s.batches.push_back(std::move(p));
  }
  if (s.filler) s.filler->new_epoch();
  s.epoch = epoch;
  s.batch_stride = int64_t(max_size);
  s.claim_batch = s.claim_slot = s.delivered = 0;
  s.epoch_error.clear();
  s.claiming = true;
  lock.unlock();
  s.work_cv.notify_all();
}

std::string Loader::load_sample(const SampledBatch& spec, size_t slot, float* const* planes, uint64_t epoch,
                                int64_t batch_stride) const {
  try {
    const int64_t position = spec.number * batch_stride + int64_t(slot);
    state_->render(spec.indices[slot], loader_sample_key(opts_.seed, epoch, position), planes);
    return "";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    return what.empty() ? std::string("render failed without a message") : what;
  }
}

void Loader::worker_loop() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  for (;;) {
    s.work_cv.wait(lock, [&] {
      return s.stop || (s.claiming && s.claim_batch < s.batches.size() &&
                        s.claim_batch < s.delivered + size_t(opts_.prefetch_batches));
    });
    if (s.stop) return;
    PendingBatch& batch = *s.batches[s.claim_batch];
    const size_t slot = s.claim_slot;
    if (slot >= batch.spec.indices.size()) {  // an empty batch: nothing to claim in it
      ++s.claim_batch, s.claim_slot = 0;
      continue;
    }
    if (++s.claim_slot == batch.spec.indices.size()) ++s.claim_batch, s.claim_slot = 0;
    const uint64_t epoch = s.epoch;
    const int64_t batch_stride = s.batch_stride;
    std::vector<std::shared_ptr<BlockPool>> pools = s.pools;
    ++s.active;
    lock.unlock();

    std::string failure;
    try {
      std::call_once(batch.allocated, [&] {
        batch.pinned = true;
        for (const std::shared_ptr<BlockPool>& pool : pools) {
          bool pinned = false;
          batch.planes.push_back(pool->acquire(&pinned));
          batch.pinned = batch.pinned && pinned;
        }
      });
      std::vector<float*> planes(batch.planes.size());
      for (size_t p = 0; p < planes.size(); ++p) planes[p] = batch.planes[p].get() + slot * s.plane_floats[p];
      failure = load_sample(batch.spec, slot, planes.data(), epoch, batch_stride);
    } catch (const std::exception& e) {
      failure = cat("loader: cannot allocate batch memory: ", e.what());
    }

    lock.lock();
    --s.active;
    if (!failure.empty()) {
      if (opts_.bad_image == BadImagePolicy::Skip) {
        batch.skip_reason[slot] = failure;
      } else if (!batch.failed || int(slot) < batch.error_slot) {
        // The lowest failing slot wins, so the reported file does not depend on thread timing.
        batch.failed = true;
        batch.error_slot = int(slot);
        batch.error = failure;
        s.claiming = false;  // no point rendering more: the epoch ends at this batch
      }
    }
    // The consumer waits for its batch to complete, or (after a failure) for every worker to finish.
    if (--batch.remaining == 0 || s.active == 0) s.ready_cv.notify_all();
    if (s.active == 0) s.idle_cv.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  State& s = *state_;
  for (;;) {
    std::unique_lock<std::mutex> lock(s.mu);
    IQA_CHECK(s.epoch_error.empty(), s.epoch_error);
    if (s.delivered >= s.batches.size()) return std::nullopt;
    PendingBatch* p = s.batches[s.delivered].get();
    // A failed batch is final as soon as its lowest failing slot is known: every lower slot was
    // claimed earlier and must finish first (a lower one could still fail and must win).
    s.ready_cv.wait(lock, [&] { return p->remaining == 0 || (p->failed && s.active == 0); });
    if (p->failed) {
      s.claiming = false;
      s.epoch_error = cat("loader: epoch ", s.epoch, ", batch ", p->spec.number, ", dataset entry ",
                          p->spec.indices[size_t(p->error_slot)], ": ", p->error);
      fail(s.epoch_error);
    }
    std::unique_ptr<PendingBatch> done = std::move(s.batches[s.delivered]);
    ++s.delivered;
    lock.unlock();
    s.work_cv.notify_all();  // the window moved

    // Compact the kept samples to the front (skips only), in slot order.
    Batch b;
    b.number = done->spec.number;
    b.crop = opts_.crop;
    b.planes = done->planes;
    b.plane_floats = s.plane_floats;
    b.pinned = done->pinned;
    if (s.sind && !b.planes.empty()) {
      b.global_view = b.planes[0];
      b.local_view = b.planes.size() > 1 ? b.planes[1] : b.planes[0];
    }
    std::vector<std::string> skipped;
    for (size_t slot = 0; slot < done->spec.indices.size(); ++slot) {
      const int64_t index = done->spec.indices[slot];
      if (!done->skip_reason[slot].empty()) {
        skipped.push_back(done->skip_reason[slot]);
        continue;
      }
      const size_t to = size_t(b.size);
      if (to != slot)
        for (size_t p = 0; p < b.planes.size(); ++p)
          std::memmove(b.planes[p].get() + to * s.plane_floats[p], b.planes[p].get() + slot * s.plane_floats[p],
                       s.plane_floats[p] * sizeof(float));
      if (s.sind) {
        const DatasetEntry& e = s.list.entries[size_t(index)];
        b.scores.push_back(float(e.score));
        b.domain_ids.push_back(e.domain_id);
      }
      b.indices.push_back(index);
      ++b.size;
    }
    {
      std::lock_guard<std::mutex> stats_lock(s.mu);
      s.stats.images_loaded += b.size;
      s.stats.images_skipped += int64_t(skipped.size());
      for (const std::string& why : skipped) {
        if (opts_.log_skips) std::fprintf(stderr, "loader: skipped %s\n", why.c_str());
        s.stats.skipped.push_back(why);
      }
    }
    if (b.size > 0) return b;
  }
}

LoaderStats Loader::stats() const {
  LoaderStats st;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    st = state_->stats;
  }
  if (state_->cache) {
    const ViewCacheStats c = state_->cache->stats();
    st.cache_hits = c.hits;
    st.cache_misses = c.misses;
    st.cache_filling = c.filling;
    st.cache_stored = c.stored;
  }
  if (state_->filler) {
    const ViewCacheFillStats f = state_->filler->stats();
    st.cache_deferred = f.deferred;
    st.cache_fill_cpu_seconds = f.background_cpu_seconds;
  }
  return st;
}

void Loader::finish_cache_fill() {
  if (state_->filler) state_->filler->finish();
}

}  // namespace iqa
