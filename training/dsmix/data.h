// DSMix's data side (shared/spec/dsmix.md §2, §5, §7): KADIS-style sample listings in the three layouts
// dsmix-train reads, rendering of one training sample per stage, the ground-truth distortion
// sensitivity map (DSM), and the DSMix cut-mix whose soft labels are weighted by sensitivity maps.
//
// Label convention (both stages): type 1..25 and level 1..5 for distorted images, type = level = 0 for
// pristine references (SaTQA's class 0). The joint 126-way class of (type, level) is
// 0 for pristine and 1 + (type - 1) * 5 + (level - 1) otherwise.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "training/image/image.h"

namespace iqa::training {

// ---- listings ---------------------------------------------------------------------------------------

struct KadisSample {
  // Distorted image, relative to KadisSet::root; empty: generated on the fly. Pristine samples (type 0)
  // carry their reference's path.
  std::string image;
  int64_t reference = 0;  // index into KadisSet::references
  int type = 0;           // 1..25, 0 = pristine reference
  int level = 0;          // 1..5, 0 = pristine reference
};

struct KadisSet {
  std::string root;                     // image paths are relative to this ("" = as given)
  std::vector<std::string> references;  // reference image paths, relative to root
  std::vector<KadisSample> samples;     // distorted samples, then (optionally) one pristine per reference
  bool on_the_fly = false;              // distorted samples carry no image: distort the reference at load time
};

inline int joint_class(int type, int level) { return type == 0 ? 0 : 1 + (type - 1) * 5 + (level - 1); }

// What KADIS-700k's CSV column 2 (dist_type_1) never holds is type 8 (spec §2). Literal follows the
// official script (column 2 only: no type 8, type 7 twice as often); WithType8 (the default) generates
// type 8 instead of 7 for rows whose dist_type_2 is 8, giving all 25 types.
enum class KadisType8 { WithType8, Literal };

struct KadisLayout {
  std::string root;       // dataset root; the paths below are relative to it
  std::string csv = "kadis700k_ref_imgs.csv";
  std::string ref_dir = "ref_imgs";
  std::string dist_dir = "dist_imgs";
  std::string dist_ext = "bmp";
  KadisType8 type8 = KadisType8::WithType8;
  bool include_references = true;  // add each reference as a pristine sample (type 0)
  bool check_files = true;         // every listed file must exist; all missing ones are listed in the error
};
// KADIS-700k's real layout: the reference list CSV (header naming ref_im, dist_type_1 and optionally
// dist_type_2, usually empty; more columns are ignored), references in ref_dir, distorted images
// `<stem>_<type:02d>_<level:02d>.bmp` in dist_dir, 5 levels per row. <stem> is ref_im up to its first
// '.', as the official script names them. Errors name the CSV and its line; missing files are all
// reported in one error (the first 20 named, the rest counted).
KadisSet read_kadis_layout(const KadisLayout& layout);

// tools/iqa-distort output: its distortions.csv (image, reference, type, level) next to the images.
// `reference_dir` is where the references live (iqa-distort's --input). The set's root is "": its paths
// are complete. Every listed file must exist (one error lists the missing ones).
KadisSet read_distort_csv(const std::string& csv_path, const std::string& reference_dir, bool include_references);

// A folder of references distorted on the fly: every reference gets `types_per_image` types drawn like
// iqa-distort's (types_for_reference; 0 = all of `types`), each at every level in `levels`. Empty
// `types` / `levels` mean all 25 types / levels 1..5. The set's root is reference_dir.
KadisSet plan_on_the_fly(const std::string& reference_dir, const std::vector<int>& types,
                         const std::vector<int>& levels, int types_per_image, uint64_t seed,
                         bool include_references);

// ---- rendering one sample ---------------------------------------------------------------------------
// Augmentation (spec §8): random horizontal flip, then a random crop of `crop` pixels, both drawn from
// `key`. On the fly, the crop is taken from the reference first and kadis_distort runs on the crop
// (a 224x224 KADIS image; cheaper than distorting the whole photo and then cropping — this project's
// choice). Images smaller than the crop are an error naming the file.

struct SampleRenderOptions {
  int crop = 224;
  bool flip = true;
  int64_t max_pixels = 100'000'000;
  // On-the-fly distortions are seeded with distortion_seed(distortion_seed ^ key, reference, type, level):
  // deterministic in the sample key, so each epoch (another key) draws new noise and positions.
  uint64_t distortion_seed = 0;
  int dsm_pool = 8;  // stage 1: the ground-truth map is (crop/dsm_pool)^2; crop must be a multiple of it
};

// Stage 1: the distorted crop, ImageNet-normalised CHW (3*crop*crop floats) into image_out, and the
// ground-truth DSM of that crop against the same crop of its reference ((crop/8)^2 floats) into map_out.
// Pristine samples get an all-zero map. A distorted file whose reference differs in size is an error.
// Both render functions throw iqa::Error naming the file (they can serve as a SampleRenderFn body).
void render_dsm_sample(const KadisSet& set, int64_t index, uint64_t key, const SampleRenderOptions& opts,
                       float* image_out, float* map_out);
// Stage 2: the crop, ImageNet-normalised CHW. Labels come from set.samples[index].
void render_qep_sample(const KadisSet& set, int64_t index, uint64_t key, const SampleRenderOptions& opts,
                       float* image_out);

// ---- the ground-truth DSM (spec §5) ------------------------------------------------------------------
// G = AvgPool_{p x p, stride p}( mean_c |D - R| ) on pixel values in [0,1] (not ImageNet-normalised).
// distorted, reference: CHW, 3 x h x w; out: (h/p) x (w/p). h and w must be multiples of p.
void dsm_ground_truth(const float* distorted, const float* reference, int h, int w, int pool, float* out);
// The same from two u8 HWC RGB images of equal size.
std::vector<float> dsm_ground_truth(const ImageU8& distorted, const ImageU8& reference, int pool);

// ---- DSMix (spec §7) ---------------------------------------------------------------------------------

struct DsmixBox {
  int64_t source = 0;         // batch index of the image pasted into this box
  int y0 = 0, x0 = 0, y1 = 0, x1 = 0;  // half-open pixel box [y0,y1) x [x0,x1)
};

struct DsmixOptions {
  int mix = 3;                // images per mixed sample: the base plus up to mix-1 pasted boxes
  bool random_box_count = false;  // false: exactly mix-1 boxes; true: uniform in {0..mix-1} (spec §7 [?])
  double eps = 1e-6;          // sum of sensitivity below this: fall back to area ratios
};

// Per sample, the boxes pasted into it, later boxes overwriting earlier ones. Partners are drawn from
// the samples with the same `group` (the same reference content, as the issue asks) that are not
// pristine, excluding the sample itself; pristine samples (is_pristine) are never mixed and never used
// as partners. A sample whose group has no partner gets no boxes. Partners are distinct while there
// are enough, then repeat. Box sizes follow CutMix's rand_bbox (area ratio r ~ U(0,1), sides scaled by
// sqrt(r) and truncated, centre uniform, clipped, so a box may be empty). Deterministic in `key`.
std::vector<std::vector<DsmixBox>> draw_dsmix_boxes(const std::vector<int64_t>& group,
                                                    const std::vector<bool>& is_pristine, int h, int w,
                                                    const DsmixOptions& opts, uint64_t key);

// One mixed sample's sources and their label weights λ_k (summing to 1): k = 0 is the sample itself.
struct DsmixWeights {
  std::vector<int64_t> source;
  std::vector<double> lambda;
};

// λ_k = Σ(V_k ⊙ S_k) / Σ_j Σ(V_j ⊙ S_j), V_k the final visible mask of source k and S_k its predicted
// sensitivity map upsampled bilinearly (align_corners=False, like F.interpolate) from map_h x map_w to
// h x w; below opts.eps, area ratios Σ V_k / (h w). maps: [B, map_h, map_w] row-major floats on the host.
// Negative map values (a regression network's undershoot) count as 0.
std::vector<DsmixWeights> dsmix_label_weights(const std::vector<std::vector<DsmixBox>>& boxes,
                                              const float* maps, int map_h, int map_w, int h, int w,
                                              const DsmixOptions& opts);

// The mixed batch: each sample's image with its boxes pasted from the source images (any device,
// [B, C, h, w]; no gradient needed).
Tensor apply_dsmix_boxes(const Tensor& images, const std::vector<std::vector<DsmixBox>>& boxes);

// Soft targets [B, classes] (f32, host): Σ_k λ_k onehot(label[source_k]).
Tensor dsmix_soft_targets(const std::vector<DsmixWeights>& weights, const std::vector<int>& labels, int classes);

}  // namespace iqa::training
