// The threaded loader (see loader.h).
//
// Shared state, all under one mutex: the epoch's batches, the next sample to claim (samples are claimed
// strictly in batch/slot order), the next batch to deliver, and the number of workers busy outside the
// lock. A worker renders its sample into the batch's buffers without holding the lock (slots are
// disjoint), then records the outcome. The consumer waits for the next batch in order to complete.
#include "training/loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "engine/pinned_memory.h"
#include "training/augment_plan.h"

namespace iqa {

BadImagePolicy parse_bad_image_policy(const std::string& s) {
  if (s == "fail") return BadImagePolicy::Fail;
  if (s == "skip") return BadImagePolicy::Skip;
  fail(cat("--bad-image: expected 'fail' or 'skip', got '", s, "'"));
}

namespace {

constexpr int64_t kMaxBatchSize = int64_t(1) << 20;  // slot field width of the sample key

Tensor view_tensor(const std::shared_ptr<float>& data, int size, int crop) {
  const Shape shape = {size, 3, crop, crop};
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
  std::shared_ptr<float> global, local;
  bool pinned = false;
  std::vector<std::string> skip_reason;  // per slot; non-empty = skipped
  int remaining = 0;
  bool failed = false;
  int error_slot = -1;
  std::string error;
};

}  // namespace

uint64_t loader_sample_key(uint64_t seed, uint64_t epoch, int64_t batch_number, int slot) {
  return sample_key(seed, epoch, uint64_t(batch_number) * uint64_t(kMaxBatchSize) + uint64_t(slot));
}

DecodeOptions loader_decode_options(const LoaderOptions& opts) {
  DecodeOptions d;
  d.max_pixels = opts.max_pixels;
  if (opts.dct_scaling)
    d.min_short_side = std::max(opts.global_resize,
                                opts.local_view == LocalViewMode::Mosaic ? opts.mosaic_short_side : 0);
  return d;
}

void render_training_views(const ImageU8& image, uint64_t key, const LoaderOptions& opts, float* global_out,
                           float* local_out) {
  const GlobalViewPlan g = draw_global_view_plan(key, opts.global_resize, opts.crop);
  normalize_to_chw(render_global_view(image, g), global_out);
  if (opts.local_view == LocalViewMode::Mosaic) {
    const MosaicPlan m = draw_mosaic_plan(key, image.width, image.height, opts.mosaic_short_side);
    normalize_to_chw(render_mosaic_view(image, m), local_out);
  }
}

Tensor Batch::global_tensor() const { return view_tensor(global_view, size, crop); }
Tensor Batch::local_tensor() const { return view_tensor(local_view, size, crop); }

struct Loader::State {
  DatasetList list;
  std::shared_ptr<BlockPool> pool;
  size_t sample_floats = 0;  // 3 * crop * crop
  size_t pool_bytes = 0;     // block size of `pool`: the largest batch's view

  mutable std::mutex mu;
  std::condition_variable work_cv, ready_cv, idle_cv;
  bool stop = false;
  bool claiming = false;  // an epoch is open for claims
  uint64_t epoch = 0;
  std::vector<std::unique_ptr<PendingBatch>> batches;
  size_t claim_batch = 0, claim_slot = 0;
  size_t delivered = 0;
  int active = 0;
  std::string epoch_error;  // set once next() has thrown for this epoch
  LoaderStats stats;
  std::vector<std::thread> threads;
};

Loader::Loader(DatasetList list, LoaderOptions opts) : opts_(std::move(opts)), state_(std::make_unique<State>()) {
  IQA_CHECK(opts_.workers >= 1, "Loader: workers must be >= 1, got ", opts_.workers);
  IQA_CHECK(opts_.prefetch_batches >= 1, "Loader: prefetch_batches must be >= 1, got ", opts_.prefetch_batches);
  IQA_CHECK(opts_.local_view != LocalViewMode::Mosaic || opts_.crop == kMosaicSize, "Loader: the mosaic view is ",
            kMosaicSize, "x", kMosaicSize, ", so crop must be ", kMosaicSize, " in Mosaic mode (got ", opts_.crop,
            ")");
  IQA_CHECK(!list.entries.empty(), "Loader: empty dataset listing");
  State& s = *state_;
  s.list = std::move(list);
  s.sample_floats = size_t(3) * size_t(opts_.crop) * size_t(opts_.crop);
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
      IQA_CHECK(idx >= 0 && size_t(idx) < s.list.entries.size(), "Loader::start_epoch: batch ", b.number,
                " lists index ", idx, " outside the dataset's ", s.list.entries.size(), " entries");
  }
  IQA_CHECK(int64_t(max_size) < kMaxBatchSize, "Loader::start_epoch: batch of ", max_size, " images is too large");
  std::unique_lock<std::mutex> lock(s.mu);
  // Abandon the previous epoch: no new claims, then wait for samples being rendered into its buffers.
  s.claiming = false;
  s.idle_cv.wait(lock, [&] { return s.active == 0; });
  const size_t view_bytes = max_size * s.sample_floats * sizeof(float);
  if (!s.pool || view_bytes > s.pool_bytes) {
    s.pool = std::make_shared<BlockPool>(view_bytes, opts_.pinned);
    s.pool_bytes = view_bytes;
  }
  s.batches.clear();
  for (SampledBatch& b : batches) {
    auto p = std::make_unique<PendingBatch>();
    p->remaining = int(b.indices.size());
    p->skip_reason.resize(b.indices.size());
    p->spec = std::move(b);
    s.batches.push_back(std::move(p));
  }
  s.epoch = epoch;
  s.claim_batch = s.claim_slot = s.delivered = 0;
  s.epoch_error.clear();
  s.claiming = true;
  lock.unlock();
  s.work_cv.notify_all();
}

std::string Loader::load_sample(const SampledBatch& spec, size_t slot, float* global_out, float* local_out,
                                uint64_t epoch) const {
  const int64_t index = spec.indices[slot];
  const std::string path = resolve_image_path(opts_.data_root, state_->list.entries[size_t(index)].image);
  try {
    const ImageU8 image = decode_image(path, loader_decode_options(opts_));
    render_training_views(image, loader_sample_key(opts_.seed, epoch, spec.number, int(slot)), opts_, global_out,
                          local_out);
    return "";
  } catch (const std::exception& e) {
    // Decode errors already start with the path; plan errors (an image too small for the mosaic) do not.
    const std::string what = e.what();
    return what.rfind(path, 0) == 0 ? what : cat(path, ": ", what);
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
    std::shared_ptr<BlockPool> pool = s.pool;
    ++s.active;
    lock.unlock();

    std::string failure;
    try {
      std::call_once(batch.allocated, [&] {
        bool global_pinned = false, local_pinned = false;
        batch.global = pool->acquire(&global_pinned);
        local_pinned = global_pinned;
        batch.local = opts_.local_view == LocalViewMode::Mosaic ? pool->acquire(&local_pinned) : batch.global;
        batch.pinned = global_pinned && local_pinned;
      });
      float* local = opts_.local_view == LocalViewMode::Mosaic ? batch.local.get() + slot * s.sample_floats : nullptr;
      failure = load_sample(batch.spec, slot, batch.global.get() + slot * s.sample_floats, local, epoch);
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
    b.global_view = done->global;
    b.local_view = done->local;
    b.pinned = done->pinned;
    std::vector<std::string> skipped;
    for (size_t slot = 0; slot < done->spec.indices.size(); ++slot) {
      const int64_t index = done->spec.indices[slot];
      if (!done->skip_reason[slot].empty()) {
        skipped.push_back(done->skip_reason[slot]);
        continue;
      }
      const size_t to = size_t(b.size);
      if (to != slot) {
        std::memmove(b.global_view.get() + to * s.sample_floats, b.global_view.get() + slot * s.sample_floats,
                     s.sample_floats * sizeof(float));
        if (b.local_view != b.global_view)
          std::memmove(b.local_view.get() + to * s.sample_floats, b.local_view.get() + slot * s.sample_floats,
                       s.sample_floats * sizeof(float));
      }
      const DatasetEntry& e = s.list.entries[size_t(index)];
      b.scores.push_back(float(e.score));
      b.domain_ids.push_back(e.domain_id);
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
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

}  // namespace iqa
