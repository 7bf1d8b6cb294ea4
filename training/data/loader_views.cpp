// What a loader worker does for one SIND sample (see loader.h): the flags' parsers, the sample key,
// the decode options, the two views rendered from a decoded image or cut from a view-cache entry, the
// cache key, and the render function that ties them together with the cache and its filler.
#include <algorithm>

#include "training/data/loader.h"
#include "training/image/augment_plan.h"
#include "training/image/view_batch.h"

namespace iqa {

uint64_t loader_sample_key(uint64_t seed, uint64_t epoch, int64_t position) {
  return sample_key(seed, epoch, uint64_t(position));
}

DecodeOptions loader_decode_options(const LoaderOptions& opts) {
  DecodeOptions d;
  d.max_pixels = opts.max_pixels;
  if (opts.decode == DecodeMode::Fast)
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

void render_cached_training_views(const CachedViews& entry, uint64_t key, const LoaderOptions& opts,
                                  float* global_out, float* local_out) {
  const GlobalViewPlan g = draw_global_view_plan(key, opts.global_resize, opts.crop);
  cut_cached_view_normalized(entry, global_view_gather(g, 0), global_out);
  if (opts.local_view == LocalViewMode::Mosaic) {
    const MosaicPlan m = draw_mosaic_plan(key, entry.source_width, entry.source_height, opts.mosaic_short_side);
    cut_cached_view_normalized(entry, mosaic_view_gather(m, entry.source_width, entry.source_height, 0), local_out);
  }
}

std::string view_cache_key(const std::string& path, const LoaderOptions& opts) {
  const std::string file = view_cache_file_key(path);
  if (file.empty()) return "";
  const bool mosaic = opts.local_view == LocalViewMode::Mosaic;
  return cat(file, "|global=", opts.global_resize, "|mosaic=", mosaic ? opts.mosaic_short_side : 0,
             "|decode=", opts.decode == DecodeMode::Exact ? "exact" : "fast");
}

std::vector<ImageU8> cached_test_views(ViewCache& cache, const std::string& path, const LoaderOptions& opts) {
  const bool mosaic = opts.local_view == LocalViewMode::Mosaic;
  const std::string key = view_cache_key(path, opts);
  std::optional<CachedViews> hit = key.empty() ? std::nullopt : cache.find(key);
  CachedViewImages built;
  if (!hit) {
    built = build_cached_views(decode_image(path, loader_decode_options(opts)), opts.global_resize,
                               mosaic ? opts.mosaic_short_side : 0);
    if (!key.empty()) cache.store(key, built);
  }
  const CachedViews entry = hit ? *hit : built.view();
  const std::vector<kernels::ViewGather> views = nine_crop_test_views(
      0, entry.source_width, entry.source_height, opts.global_resize, opts.mosaic_short_side);
  std::vector<ImageU8> out;
  for (size_t v = 0; v < (mosaic ? views.size() : 9); ++v) out.push_back(cut_cached_view(entry, views[v]));
  return out;
}

SampleRenderFn sind_render_function(const DatasetList& list, const LoaderOptions& opts, ViewCache* cache,
                                    ViewCacheFiller* filler) {
  return [&list, &opts, cache, filler](int64_t index, uint64_t key, float* const* planes) {
    const std::string path = resolve_image_path(opts.data_root, list.entries[size_t(index)].image);
    const bool mosaic = opts.local_view == LocalViewMode::Mosaic;
    float* local = mosaic ? planes[1] : nullptr;
    try {
      const std::string cache_key = cache ? view_cache_key(path, opts) : "";
      if (cache_key.empty()) {
        render_training_views(decode_image(path, loader_decode_options(opts)), key, opts, planes[0], local);
      } else if (const std::optional<CachedViews> hit = cache->find(cache_key)) {
        render_cached_training_views(*hit, key, opts, planes[0], local);
      } else if (filler) {
        // A miss, filled off the critical path: the views are rendered uncached (the same bytes).
        const double t0 = ViewCacheFiller::thread_cpu_seconds();
        ImageU8 decoded = decode_image(path, loader_decode_options(opts));
        render_training_views(decoded, key, opts, planes[0], local);
        filler->offer(cache_key, std::move(decoded), ViewCacheFiller::thread_cpu_seconds() - t0);
      } else {
        // A miss filled inline: the views are cut from the resizes just stored, the same bytes again.
        const CachedViewImages entry = build_cached_views(decode_image(path, loader_decode_options(opts)),
                                                          opts.global_resize, mosaic ? opts.mosaic_short_side : 0);
        cache->store(cache_key, entry);
        render_cached_training_views(entry.view(), key, opts, planes[0], local);
      }
    } catch (const std::exception& e) {
      // Decode errors already start with the path; plan errors (an image too small for the mosaic) do not.
      const std::string what = e.what();
      fail(what.rfind(path, 0) == 0 ? what : cat(path, ": ", what));
    }
  };
}

}  // namespace iqa
