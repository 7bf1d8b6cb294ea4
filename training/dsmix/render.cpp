// Rendering one DSMix training sample (see dsmix_data.h): flip + random crop drawn from the key, the
// distortion generated on the crop when the set is on the fly, and the ground-truth sensitivity map.
//
// Counter layout under a sample's key (fixed: changing it changes every run's pixels):
//   0 flip, 1 crop top, 2 crop left.
#include <cstdlib>

#include "kernels/philox.h"
#include "training/image/augment.h"
#include "training/image/augment_plan.h"
#include "training/data/dataset.h"
#include "training/image/decode.h"
#include "training/distort/distort.h"
#include "training/distort/primitives.h"
#include "training/dsmix/data.h"

namespace iqa::training {

namespace {

struct CropDraw {
  bool flip = false;
  int x = 0, y = 0;  // top-left of the crop in the (flipped) image
};

CropDraw draw_crop(uint64_t key, int width, int height, int crop, bool flip) {
  CropDraw d;
  d.flip = flip && philox::uniform(key, 0) < 0.5f;
  d.y = draw_index(key, 1, height - crop + 1);
  d.x = draw_index(key, 2, width - crop + 1);
  return d;
}

void check_crop_fits(const ImageU8& img, int crop, const std::string& path) {
  IQA_CHECK(img.width >= crop && img.height >= crop, path, ": ", img.width, "x", img.height,
            " is smaller than the ", crop, "x", crop, " training crop");
}

// The crop with its values min-max stretched to [0,1] (KADIS's mapmm): the image kadis_distort starts
// from. An on-the-fly crop stands in for a KADIS reference, and KADIS's references are photos spanning
// about the whole range, so mapmm barely moves them; a crop (of a photo, let alone of a procedural
// image) often spans far less, and mapmm then stretches it by a large factor. Comparing the distorted
// crop (stretched) with the unstretched crop made the ground-truth map measure the stretch rather
// than the distortion (a level-1 blur differing by 0.08 on one crop and 0 on another), and left
// pristine samples as the only ones not spanning [0,1] (a range cue for the classifier).
ImageU8 kadis_range(const ImageU8& crop) {
  ImageF f = to_float(crop);
  distort::mapmm_inplace(f);
  return to_u8(f);
}

// Crop of the horizontally flipped image at (d.x, d.y): the mirrored crop of the original, flipped.
ImageU8 flipped_crop(const ImageU8& img, const CropDraw& d, int crop) {
  const Rect r{d.flip ? img.width - crop - d.x : d.x, d.y, crop, crop};
  ImageU8 out = iqa::crop(img, r);
  return d.flip ? hflip(out) : out;
}

struct SampleCrops {
  ImageU8 distorted;
  ImageU8 reference;  // only when asked for
};

SampleCrops render_crops(const KadisSet& set, int64_t index, uint64_t key, const SampleRenderOptions& opts,
                         bool want_reference) {
  IQA_CHECK(index >= 0 && size_t(index) < set.samples.size(), "DSMix sample ", index, " outside the set's ",
            set.samples.size(), " samples");
  IQA_CHECK(opts.crop > 0, "DSMix rendering: crop must be positive, got ", opts.crop);
  const KadisSample& s = set.samples[size_t(index)];
  IQA_CHECK(s.reference >= 0 && size_t(s.reference) < set.references.size(), "DSMix sample ", index,
            " names reference ", s.reference, " outside the set's ", set.references.size());
  const std::string ref_path = resolve_image_path(set.root, set.references[size_t(s.reference)]);
  const bool pristine = s.type == 0;
  const bool on_the_fly = !pristine && s.image.empty();
  const std::string image_path = pristine || on_the_fly ? ref_path : resolve_image_path(set.root, s.image);
  DecodeOptions decode;
  decode.max_pixels = opts.max_pixels;
  try {
    SampleCrops out;
    const ImageU8 source = decode_image(image_path, decode);
    check_crop_fits(source, opts.crop, image_path);
    const CropDraw d = draw_crop(key, source.width, source.height, opts.crop, opts.flip);
    const ImageU8 source_crop = flipped_crop(source, d, opts.crop);
    // On-the-fly sets: the crop as kadis_distort sees it (see kadis_range) is the reference of the
    // ground truth and the pristine sample. Files are used as they are.
    const ImageU8 reference_crop = set.on_the_fly ? kadis_range(source_crop) : source_crop;
    if (pristine) {
      out.distorted = reference_crop;
      if (want_reference) out.reference = reference_crop;
    } else if (on_the_fly) {
      // The key joins the seed so every epoch draws new noise, angles and positions for this sample.
      const uint64_t seed = distortion_seed(opts.distortion_seed ^ key, uint64_t(s.reference), s.type, s.level);
      out.distorted = to_u8(kadis_distort(to_float(source_crop), s.type, s.level, seed));
      if (want_reference) out.reference = reference_crop;
    } else {
      out.distorted = source_crop;
      if (want_reference) {
        const ImageU8 ref = decode_image(ref_path, decode);
        IQA_CHECK(ref.width == source.width && ref.height == source.height, image_path, " is ", source.width, "x",
                  source.height, " but its reference ", ref_path, " is ", ref.width, "x", ref.height);
        out.reference = flipped_crop(ref, d, opts.crop);
      }
    }
    return out;
  } catch (const std::exception& e) {
    // Decode errors start with the path and size errors name it; distortion failures do not.
    const std::string what = e.what();
    if (what.find(image_path) != std::string::npos) throw;
    fail(cat(image_path, on_the_fly ? cat(" (type ", s.type, ", level ", s.level, " on the fly)") : "", ": ", what));
  }
}

}  // namespace

void render_dsm_sample(const KadisSet& set, int64_t index, uint64_t key, const SampleRenderOptions& opts,
                       float* image_out, float* map_out) {
  IQA_CHECK(opts.dsm_pool > 0 && opts.crop % opts.dsm_pool == 0, "render_dsm_sample: crop ", opts.crop,
            " is not a multiple of the DSM pool ", opts.dsm_pool);
  const SampleCrops c = render_crops(set, index, key, opts, true);
  normalize_to_chw(c.distorted, image_out);
  const std::vector<float> map = dsm_ground_truth(c.distorted, c.reference, opts.dsm_pool);
  std::copy(map.begin(), map.end(), map_out);
}

void render_qep_sample(const KadisSet& set, int64_t index, uint64_t key, const SampleRenderOptions& opts,
                       float* image_out) {
  normalize_to_chw(render_crops(set, index, key, opts, false).distorted, image_out);
}

void dsm_ground_truth(const float* distorted, const float* reference, int h, int w, int pool, float* out) {
  IQA_CHECK(pool > 0 && h > 0 && w > 0 && h % pool == 0 && w % pool == 0, "dsm_ground_truth: ", h, "x", w,
            " is not a whole number of ", pool, "x", pool, " cells");
  const int mh = h / pool, mw = w / pool;
  const size_t plane = size_t(h) * size_t(w);
  const double scale = 1.0 / (3.0 * pool * pool);  // mean over channels, then over the cell
  for (int my = 0; my < mh; ++my)
    for (int mx = 0; mx < mw; ++mx) {
      double sum = 0;
      for (int c = 0; c < 3; ++c)
        for (int y = my * pool; y < (my + 1) * pool; ++y) {
          const size_t row = size_t(c) * plane + size_t(y) * size_t(w);
          for (int x = mx * pool; x < (mx + 1) * pool; ++x)
            sum += std::abs(double(distorted[row + size_t(x)]) - double(reference[row + size_t(x)]));
        }
      out[size_t(my) * size_t(mw) + size_t(mx)] = float(sum * scale);
    }
}

std::vector<float> dsm_ground_truth(const ImageU8& distorted, const ImageU8& reference, int pool) {
  IQA_CHECK(distorted.channels == 3 && reference.channels == 3 && distorted.width == reference.width &&
                distorted.height == reference.height,
            "dsm_ground_truth: distorted ", distorted.width, "x", distorted.height, "x", distorted.channels,
            " and reference ", reference.width, "x", reference.height, "x", reference.channels,
            " must be equal-sized RGB images");
  const int h = distorted.height, w = distorted.width;
  IQA_CHECK(pool > 0 && h > 0 && w > 0 && h % pool == 0 && w % pool == 0, "dsm_ground_truth: ", h, "x", w,
            " is not a whole number of ", pool, "x", pool, " cells");
  const int mh = h / pool, mw = w / pool;
  std::vector<float> out(size_t(mh) * size_t(mw));
  // Integer sums of |D - R| are exact; one division maps them to [0,1] pixel units and averages.
  const double scale = 1.0 / (255.0 * 3.0 * pool * pool);
  for (int my = 0; my < mh; ++my)
    for (int mx = 0; mx < mw; ++mx) {
      int64_t sum = 0;
      for (int y = my * pool; y < (my + 1) * pool; ++y) {
        const size_t row = size_t(y) * size_t(w) * 3;
        for (size_t i = row + size_t(mx * pool) * 3; i < row + size_t((mx + 1) * pool) * 3; ++i)
          sum += std::abs(int(distorted.pixels[i]) - int(reference.pixels[i]));
      }
      out[size_t(my) * size_t(mw) + size_t(mx)] = float(double(sum) * scale);
    }
  return out;
}

}  // namespace iqa::training
