// The threaded training loader: N worker threads decode images, draw their augmentation plans and
// render SIND's two 224x224 views on the CPU, ahead of the trainer, into a bounded window of batches.
// The same machinery renders any other per-sample data (dsmix-train's crops and sensitivity maps):
// the generic constructor takes a render function that fills a sample's float planes.
//
// Determinism: a sample's pixels depend only on (seed, epoch, batch number, slot) and the file, and
// batches are handed out strictly in the sampler's order, so 1 or 16 workers give byte-identical
// batches. Workers claim samples in that order and may run at most `prefetch_batches` batches ahead of
// the consumer, which bounds memory.
//
// Bad images (decode or plan failures) follow BadImagePolicy: Fail (default) stops the epoch and
// next() throws an iqa::Error naming the file; Skip drops the sample from its batch, logs it to stderr
// and counts it in stats(). Skipping never substitutes another image, so skipped runs stay reproducible.
//
// Batch memory is page-locked when CUDA is usable (engine/pinned_memory.h) and recycled through a
// pool once the consumer drops a Batch.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "training/data/dataset.h"
#include "training/data/scene_sampler.h"
#include "training/choice.h"
#include "training/data/view_cache.h"
#include "training/data/view_cache_fill.h"

namespace iqa {

enum class BadImagePolicy { Fail, Skip };  // --bad-image fail | skip

// How big JPEGs are decoded (the --decode flag). Exact is the reference's pixels: a full-size decode,
// then the resizes (byte-equal to Pillow's). Fast decodes at 1/2, 1/4 or 1/8 scale in the DCT domain
// while the views still get at least their resize sizes (the short side stays >= max(global_resize,
// mosaic_short_side)): much faster on 4000x3000 photos, but the pixels differ. Measured with
// `loader-bench --sizes spaq --compare-decode` (its generated 4000x3000 JPEGs: quality 90, noise of
// +-4 levels, decoded fast at 1/4 scale; 64 training draws on each of 4 files): the mosaic differs in
// 33.4% of its bytes (mean |diff| 0.36, max 6 gray levels), the 256 global view in 16.1% (mean 0.16,
// max 2). Noisier photos differ more (issue 18 measured 68-76% of the mosaic's bytes, max 20-40).
enum class DecodeMode { Exact, Fast };  // --decode exact | fast

enum class LocalViewMode {
  Mosaic,        // the 7x7 mini-patch mosaic of a 672-short-side resize (2024 SIND, sind.md §1.3)
  SameAsGlobal,  // SIND HEAD: the local branch sees the global crop (no second view is rendered)
};

}  // namespace iqa

// The loader's choices as the tools and config.json spell them (training/choice.h).
namespace iqa::training {
IQA_CHOICE_SPELLINGS(BadImagePolicy, "--bad-image", {BadImagePolicy::Fail, "fail"}, {BadImagePolicy::Skip, "skip"});
IQA_CHOICE_SPELLINGS(DecodeMode, "--decode", {DecodeMode::Exact, "exact"}, {DecodeMode::Fast, "fast"});
IQA_CHOICE_SPELLINGS(LocalViewMode, "--local_view",
                     {LocalViewMode::Mosaic, "mosaic"}, {LocalViewMode::SameAsGlobal, "same-crop"});
}  // namespace iqa::training

namespace iqa {

struct LoaderOptions {
  std::string data_root;          // listed image paths are relative to this
  int workers = 4;
  int prefetch_batches = 4;       // batches in flight ahead of the consumer
  BadImagePolicy bad_image = BadImagePolicy::Fail;
  uint64_t seed = 0;
  int global_resize = 256;        // 256 at SIND HEAD, 244 in the 2024 experiments
  int crop = 224;
  LocalViewMode local_view = LocalViewMode::Mosaic;
  int mosaic_short_side = 672;
  DecodeMode decode = DecodeMode::Exact;
  // The decoded-view cache's directory (training/data/view_cache.h); empty = off. SIND listings only:
  // each image's resizes are stored the first time it is loaded and its views cut from them after.
  std::string cache_dir;
  // Threads that fill the cache's entries at idle priority (training/data/view_cache_fill.h): -1 = as
  // many as workers; 0 = each miss is filled inline by its worker (the cold epoch then pays for it).
  int cache_fill_threads = -1;
  int64_t max_pixels = 100'000'000;
  bool pinned = true;             // page-locked batches when CUDA is usable
  bool log_skips = true;          // print each skipped image to stderr
};

struct Batch {
  int64_t number = 0;      // the batch's position in the epoch (SampledBatch::number)
  int size = 0;            // images kept (< the sampler's batch size only when images were skipped)
  int crop = 224;
  // Every plane the samples were rendered into, each float32 [size, plane_floats[p]] contiguous.
  // SIND listings: plane 0 is the global view and (Mosaic mode) plane 1 the local view.
  std::vector<std::shared_ptr<float>> planes;
  std::vector<size_t> plane_floats;  // floats per sample of each plane
  // SIND listings only (null for the generic constructor): float32 NCHW [size, 3, crop, crop],
  // ImageNet-normalised. In SameAsGlobal mode local_view is the same memory as global_view.
  std::shared_ptr<float> global_view, local_view;
  bool pinned = false;
  std::vector<float> scores;     // SIND listings only (empty otherwise)
  std::vector<int> domain_ids;   // SIND listings only (empty otherwise)
  std::vector<int64_t> indices;  // dataset entries (item indices), in batch order
  // Filled by the epoch loop's prefetcher (training/epoch_loop.h): the tensors its client asked for, on
  // the training device. Empty otherwise.
  std::vector<Tensor> device_inputs;

  size_t view_floats() const { return size_t(size) * 3 * size_t(crop) * size_t(crop); }
  // CPU tensors viewing the batch memory (no copy), shape [size, 3, crop, crop].
  Tensor global_tensor() const;
  Tensor local_tensor() const;
  // CPU tensor viewing plane p (no copy), shape [size, ...per_sample_shape]; per_sample_shape must hold
  // exactly plane_floats[p] elements.
  Tensor plane_tensor(size_t p, const Shape& per_sample_shape) const;
};

struct LoaderStats {
  int64_t images_loaded = 0;
  int64_t images_skipped = 0;
  std::vector<std::string> skipped;  // "path: reason" of each skip, in delivery order
  // The view cache (zero when off): samples cut from a stored entry, and those decoded (and stored).
  int64_t cache_hits = 0, cache_misses = 0;
  bool cache_filling = false;  // false once a write error stopped the cache from growing
  int64_t cache_stored = 0;    // entries this loader added
  int64_t cache_deferred = 0;  // misses not filled this time (the fill threads were behind)
  double cache_fill_cpu_seconds = 0;  // CPU time of the idle-priority fill threads
};

// What a worker does for one sample, exposed for tests and benchmarks: the augmentation key, the
// decode options implied by opts, and the rendering of both views (normalised float CHW, 3 x crop x
// crop each) of an already decoded image. In SameAsGlobal mode local_out may be null.
//
// The key depends on the sample's position in the epoch's order over all ranks, batch number x batch
// size + slot (the batch size being the largest batch of the epoch's start_epoch() call), not on how
// that order is cut into batches: so W ranks with batches of b draw the same crops as one process
// with batches of W x b, and data-parallel runs can be checked against a single process.
uint64_t loader_sample_key(uint64_t seed, uint64_t epoch, int64_t position);
DecodeOptions loader_decode_options(const LoaderOptions& opts);
void render_training_views(const ImageU8& image, uint64_t key, const LoaderOptions& opts, float* global_out,
                           float* local_out);
// The same views cut from a view-cache entry (byte-identical to render_training_views of its image).
void render_cached_training_views(const CachedViews& entry, uint64_t key, const LoaderOptions& opts,
                                  float* global_out, float* local_out);
// The cache key of an image file under opts: its path, size and modification time, and the settings its
// cached resizes depend on. "" when the file cannot be stat'ed (the decode then reports the error).
std::string view_cache_key(const std::string& path, const LoaderOptions& opts);
// The test-time views of an image (nine_crop_test_views' order: global 0..8, then, in Mosaic mode,
// local 0..8) cut from its view-cache entry, which a miss decodes and stores first. Byte-identical to
// rendering those views from the decoded image.
std::vector<ImageU8> cached_test_views(ViewCache& cache, const std::string& path, const LoaderOptions& opts);

// Renders item `index` with augmentation key `key` (loader_sample_key of its batch and slot) into
// planes[p], plane_floats[p] floats each. Failures throw (iqa::Error) with a message naming the file;
// the loader applies opts.bad_image to them like to undecodable images.
using SampleRenderFn = std::function<void(int64_t index, uint64_t key, float* const* planes)>;
// The SIND listing's render function: the views decoded and rendered, or cut from the cache when given
// (a miss is filled by `filler` when given, else inline). list and opts must outlive it.
SampleRenderFn sind_render_function(const DatasetList& list, const LoaderOptions& opts, ViewCache* cache,
                                    ViewCacheFiller* filler);

class Loader {
 public:
  // SIND's listing: decodes each entry's image and renders the global (and local) view.
  Loader(DatasetList list, LoaderOptions opts);
  // Any items 0..num_items-1 rendered by `render` into planes of the given sizes (floats per sample).
  // Uses workers, prefetch_batches, bad_image, seed, pinned and log_skips from opts; batches carry
  // planes, plane_floats and indices (no scores, domain ids or global/local views).
  Loader(int64_t num_items, std::vector<size_t> plane_floats, SampleRenderFn render, LoaderOptions opts);
  ~Loader();  // stops and joins the workers, abandoning any epoch in progress
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts loading an epoch's batches (abandoning the previous epoch if it was not drained).
  void start_epoch(uint64_t epoch, std::vector<SampledBatch> batches);
  // The next batch in order; nullopt once the epoch is exhausted. Rethrows a worker's failure (Fail
  // policy) as iqa::Error naming the file; the epoch is then over and next() keeps throwing it.
  // A batch whose every image was skipped is passed over.
  std::optional<Batch> next();
  LoaderStats stats() const;
  // Waits until the cache's fill threads have stored every queued entry (benchmarks, tests).
  void finish_cache_fill();
  const LoaderOptions& options() const { return opts_; }

 private:
  struct State;
  void start_workers();
  void worker_loop();
  // Renders one sample into its slot; returns "" or the failure message (naming the file).
  std::string load_sample(const SampledBatch& spec, size_t slot, float* const* planes, uint64_t epoch,
                          int64_t batch_stride) const;
  LoaderOptions opts_;
  std::unique_ptr<State> state_;
};

}  // namespace iqa
