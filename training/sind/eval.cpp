#include "training/sind/eval.h"

#include <algorithm>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "training/image/decode.h"
#include "training/image/view_batch.h"

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

}  // namespace

Predictions predict_dataset(models::QualityModel& model, const DatasetList& list, const EvalOptions& opts) {
  IQA_CHECK(opts.images_per_batch > 0, "predict_dataset: images_per_batch must be positive");
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  const bool low = opts.device.is_cuda() && opts.precision != Precision::FP32;
  amp::AutocastGuard autocast(opts.precision == Precision::FP16 ? DType::F16 : DType::BF16, low);

  std::vector<int64_t> mine;
  for (int64_t i = opts.rank; i < int64_t(list.entries.size()); i += opts.world_size) mine.push_back(i);
  Predictions out;
  const int first = opts.nine_crop ? 0 : 4, count = opts.nine_crop ? 9 : 1;
  for (size_t start = 0; start < mine.size(); start += size_t(opts.images_per_batch)) {
    if (opts.progress) opts.progress(int64_t(start), int64_t(mine.size()));
    const size_t end = std::min(mine.size(), start + size_t(opts.images_per_batch));
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
    Tensor scores = model.score(xg, xl).to(kCPU, DType::F64).contiguous();
    const double* s = scores.data<double>();
    for (size_t i = 0; i < kept.size(); ++i) {
      double sum = 0;
      for (int v = 0; v < count; ++v) sum += s[i * size_t(count) + size_t(v)];
      out.index.push_back(kept[i]);
      out.pred.push_back(sum / count);
    }
  }
  if (opts.progress) opts.progress(int64_t(mine.size()), int64_t(mine.size()));
  model.train(was_training);
  return out;
}

}  // namespace iqa::training
