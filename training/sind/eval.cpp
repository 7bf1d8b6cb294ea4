#include "training/sind/eval.h"

#include <algorithm>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "training/image/augment.h"
#include "training/image/augment_plan.h"
#include "training/image/decode.h"
#include "training/image/view_batch.h"
#include "training/run_log.h"

namespace iqa::training {
namespace {

struct Decoded {
  int64_t index = 0;
  ImageU8 image;
  std::string error;
};

// Decodes a chunk of entries on all cores; failures are kept per slot, not thrown from threads.
std::vector<Decoded> decode_chunk(const DatasetList& list, const std::vector<int64_t>& idx, const EvalOptions& opts) {
  std::vector<Decoded> out(idx.size());
  LoaderOptions lo;
  lo.global_resize = opts.resize;
  lo.local_view = opts.local_view;
  lo.decode = opts.decode;
  const DecodeOptions dopts = loader_decode_options(lo);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < int64_t(idx.size()); ++i) {
    out[i].index = idx[i];
    try {
      out[i].image = decode_image(resolve_image_path(opts.data_root, list.entries[idx[i]].image), dopts);
    } catch (const std::exception& e) {
      out[i].error = e.what();
    }
  }
  return out;
}

// Each kept image's prediction: the mean of its `count` view scores.
void add_predictions(const Tensor& view_scores, const std::vector<int64_t>& kept, int count, Predictions* out) {
  const Tensor scores = view_scores.to(kCPU, DType::F64).contiguous();
  const double* s = scores.data<double>();
  for (size_t i = 0; i < kept.size(); ++i) {
    double sum = 0;
    for (int v = 0; v < count; ++v) sum += s[i * size_t(count) + size_t(v)];
    out->index.push_back(kept[i]);
    out->pred.push_back(sum / count);
  }
}

// With the view cache: each image's 9 (or 18) views cut from its entry, normalised on the host.
struct CachedChunk {
  std::vector<int64_t> kept;
  std::vector<std::string> errors;  // in entry order, of the images that failed
  Tensor global, local;             // [kept * count, 3, 224, 224] F32 on the CPU
};

CachedChunk cut_chunk(ViewCache& cache, const DatasetList& list, const std::vector<int64_t>& idx,
                      const EvalOptions& opts, int first, int count) {
  LoaderOptions lo;
  lo.global_resize = opts.resize;
  lo.local_view = opts.local_view;
  lo.decode = opts.decode;
  std::vector<std::vector<ImageU8>> views(idx.size());
  std::vector<std::string> errors(idx.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < int64_t(idx.size()); ++i) {
    const std::string path = resolve_image_path(opts.data_root, list.entries[size_t(idx[size_t(i)])].image);
    try {
      views[size_t(i)] = cached_test_views(cache, path, lo);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      errors[size_t(i)] = what.rfind(path, 0) == 0 ? what : cat(path, ": ", what);
    }
  }
  CachedChunk c;
  for (size_t i = 0; i < idx.size(); ++i)
    if (errors[i].empty()) c.kept.push_back(idx[i]); else c.errors.push_back(errors[i]);
  const bool mosaic = opts.local_view == LocalViewMode::Mosaic;
  const int64_t n = int64_t(c.kept.size()) * count, per = 3 * kMosaicSize * kMosaicSize;
  c.global = Tensor::empty({n, 3, kMosaicSize, kMosaicSize}, DType::F32, kCPU);
  c.local = mosaic ? Tensor::empty({n, 3, kMosaicSize, kMosaicSize}, DType::F32, kCPU) : c.global;
  int64_t at = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    if (!errors[i].empty()) continue;
    for (int v = first; v < first + count; ++v, ++at) {
      normalize_to_chw(views[i][size_t(v)], c.global.data<float>() + at * per);
      if (mosaic) normalize_to_chw(views[i][size_t(9 + v)], c.local.data<float>() + at * per);
    }
  }
  return c;
}

}  // namespace

Predictions predict_dataset(models::QualityModel& model, const DatasetList& list, const EvalOptions& opts) {
  IQA_CHECK(opts.images_per_batch > 0, "predict_dataset: images_per_batch must be positive");
  // Training mode comes back however this ends (an interrupted evaluation throws).
  struct ModeRestore {
    models::QualityModel& m;
    bool was_training;
    ~ModeRestore() { m.train(was_training); }
  } restore{model, model.is_training()};
  model.eval();
  NoGradGuard no_grad;
  const bool low = opts.device.is_cuda() && opts.precision != Precision::FP32;
  amp::AutocastGuard autocast(opts.precision == Precision::FP16 ? DType::F16 : DType::BF16, low);

  // One cache per call: opening it reads the index, which is small next to scoring a set.
  const std::unique_ptr<ViewCache> cache = opts.cache_dir.empty() ? nullptr : std::make_unique<ViewCache>(opts.cache_dir);
  std::vector<int64_t> mine;
  for (int64_t i = opts.rank; i < int64_t(list.entries.size()); i += opts.world_size) mine.push_back(i);
  Predictions out;
  const int first = opts.nine_crop ? 0 : 4, count = opts.nine_crop ? 9 : 1;
  for (size_t start = 0; start < mine.size(); start += size_t(opts.images_per_batch)) {
    if (opts.stop_on_signal && stop_requested()) throw EvaluationInterrupted();
    if (opts.progress) opts.progress(int64_t(start), int64_t(mine.size()));
    const size_t end = std::min(mine.size(), start + size_t(opts.images_per_batch));
    if (cache) {
      const std::vector<int64_t> idx(mine.begin() + int64_t(start), mine.begin() + int64_t(end));
      CachedChunk c = cut_chunk(*cache, list, idx, opts, first, count);
      if (!c.errors.empty() && opts.bad_image == BadImagePolicy::Fail) throw Error(c.errors[0]);
      out.skipped.insert(out.skipped.end(), c.errors.begin(), c.errors.end());
      if (c.kept.empty()) continue;
      const Tensor xg = c.global.to(opts.device), xl = opts.local_view == LocalViewMode::Mosaic ? c.local.to(opts.device) : xg;
      add_predictions(model.score(xg, xl), c.kept, count, &out);
      continue;
    }
    std::vector<Decoded> chunk =
        decode_chunk(list, std::vector<int64_t>(mine.begin() + int64_t(start), mine.begin() + int64_t(end)), opts);
    std::vector<const ImageU8*> images;
    std::vector<kernels::ViewGather> global_views, local_views;
    std::vector<int64_t> kept;
    for (const Decoded& d : chunk) {
      if (!d.error.empty()) {
        if (opts.bad_image == BadImagePolicy::Fail) throw Error(d.error);
        out.skipped.push_back(d.error);
        continue;
      }
      const int slot = int(images.size());
      images.push_back(&d.image);
      kept.push_back(d.index);
      // 18 views: global NineCrop 0..8 then local NineCropMiniPatch 0..8 (pair i with 9 + i).
      const auto views = nine_crop_test_views(slot, d.image.width, d.image.height, opts.resize);
      for (int v = first; v < first + count; ++v) {
        global_views.push_back(views[size_t(v)]);
        local_views.push_back(views[size_t(9 + v)]);
      }
    }
    if (images.empty()) continue;
    Tensor xg = render_view_batch(images, global_views, DType::F32, opts.device);
    Tensor xl = opts.local_view == LocalViewMode::Mosaic ? render_view_batch(images, local_views, DType::F32, opts.device)
                                                         : xg;
    add_predictions(model.score(xg, xl), kept, count, &out);
  }
  if (opts.progress) opts.progress(int64_t(mine.size()), int64_t(mine.size()));
  return out;
}

}  // namespace iqa::training
