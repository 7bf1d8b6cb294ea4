// Building SIND's data_json listings from the datasets' own score files, and the three protocols
// (shared/spec/sind.md §5.3-5.4): leave-one-out folds per scene, cross-set train/test, and LIQE-style
// random 70/10/20 splits (x10) that keep reference contents disjoint for synthetic datasets.
//
// Score files, per dataset (--scores, --scenes of tools/make-splits). Where a dataset ships .xlsx or
// .mat files, a CSV export of the named sheet/variables is expected (column names below, matched
// case-insensitively); where the spec gives no format, the public dataset's documented layout is used.
//   koniq10k  koniq10k_scores_and_distributions.csv or koniq10k_distributions_sets.csv: image_name,
//             MOS_zscore [, set: training|validation|test -> official split].   -> koniq10k/1024x768/<image>
//   spaq      CSV of "MOS and Image attribute scores.xlsx": Image name, MOS.   -> SPAQ/TestImage/<image>
//             --scenes: CSV of "Scene category labels.xlsx": Image name + one 0/1 column per scene
//             (Animal, Cityscape, Human, Indoor scene, Landscape, Night scene, Plant, Still-life,
//             Others), or one column "Scene category" listing 1-based numbers or names. Multi-label
//             images get one label drawn once from the seed (sind.md §3), frozen in the JSON.
//   livec     CSV of AllImages_release.mat + AllMOS_release.mat: image, mos.   -> LIVEC/Images/<image>
//   bid       CSV of the BID grade sheet: image, mos.                          -> BID/ImageDatabase/<image>
//   cid2013   CSV of the CID2013 sheet: image, mos (Realigned MOS).            -> CID2013/<image>
//   kadid10k  dmos.csv: dist_img, ref_img, dmos[, var]. Domain 600 + type.     -> kadid10k/images/<dist_img>
//   csiq      CSV of csiq.DMOS.xlsx: image, dst_type, dst_lev, dmos [, dst_idx]. Domain 800 + dst_idx
//             (1 noise, 2 jpeg, 3 jpeg 2000, 4 f noise, 5 blur, 6 contrast).
//             -> CSIQ/dst_imgs/<awgn|jpeg|jpeg2000|fnoise|blur|contrast>/<image>.<AWGN|JPEG|jpeg2000|fnoise|BLUR|contrast>.<lev>.png
//   live      CSV of LIVE release 2 (dmos_realigned.mat + refnames_all.mat + the folders' info.txt):
//             image (e.g. jp2k/img1.bmp), reference, dmos. Domain 700 + type (1 jp2k, 2 jpeg, 3 wn,
//             4 gblur, 5 fastfading); references (DMOS 0) included as listed.  -> LIVE/<image>
//   tid2013   mos_with_names.txt: "<mos> <name>" per line. Domain 900 + reference number (iXX).
//             -> tid2013/distorted_images/<name>
//   eva       votes_filtered.csv ('='-separated): image_id, score -> mean vote per image.
//             --scenes: image_content_category.csv: image_id, category (1..6). Domain 1100 + category.
//             -> EVA/images/EVA_category/EVA_together/<image_id>.jpg
//   para      PARA-GiaaTrain.csv and PARA-GiaaTest.csv (the file name says which; official split):
//             sessionId, imageName, aestheticScore_mean, semantic. Domain 1200 + alphabetical rank of
//             semantic.                                                     -> PARA/imgs/<sessionId>/<imageName>
// koniq10k, livec and bid have no scene labels of their own (SIND labels them by CLIP zero-shot):
// --scenes may give a CSV "image, scene" with the nine SPAQ scene names, mapped to base + SPAQ index;
// without it every image is in domain `base`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "training/data/dataset.h"

namespace iqa {

struct SourceFiles {
  std::vector<std::string> scores;  // most datasets: one file; para: train and test files
  std::string scenes;               // optional scene-label file (required for spaq and eva)
};

struct SourceData {
  std::string dataset;                      // registry name
  DatasetList list;
  std::vector<std::string> official_split;  // per entry "train" / "test" / "" (empty: no official split)
};

// SPAQ's nine scene names in label order (domain = base + position).
const std::vector<std::string>& spaq_scene_names();

// Reads a dataset's score files into a listing (see the table above). `seed` drives SPAQ's one-time
// choice among multiple scene labels. Errors name the file and line.
SourceData load_source(const std::string& dataset, const SourceFiles& files, uint64_t seed = 0);

struct Fold {
  std::string name;  // "test_for_<domain_id>_<scene>", as SIND's folders
  DatasetList train, test;
};
// One fold per domain (increasing id): test = that domain, train = every other entry.
std::vector<Fold> leave_one_out_folds(const DatasetList& list);

struct Split {
  DatasetList train, val, test;
};
// LIQE-style random splits. Groups are reference contents (entry.reference, required) when
// content_disjoint, else single images; groups are shuffled with SeededIndexRandom(seed, split) and
// the first round(train_frac * G) go to train, the next round(val_frac * G) to val, the rest to test.
// Entries keep their listing order inside each part.
std::vector<Split> random_splits(const DatasetList& list, bool content_disjoint, int count = 10, uint64_t seed = 0,
                                 double train_frac = 0.7, double val_frac = 0.1);

// Cross-set train/test. With test_images (image paths as listed, or their file names) those are the
// test set; otherwise the source's official split. Throws when neither defines a test set.
Split cross_set_split(const SourceData& source, const std::vector<std::string>& test_images = {});

// max(score) - score for every entry (split_follow_liqe.py's treatment of LIVE and CSIQ).
DatasetList flip_scores(const DatasetList& list);

struct SplitOptions {
  bool leave_one_out = true;
  bool cross_set = true;
  bool random_split = true;
  int random_count = 10;
  uint64_t seed = 0;
  std::vector<std::string> test_images;  // for cross_set; empty: the official split if any
};
// Writes <out>/all/<ds>.json and the requested protocols:
//   <out>/for_leave_one_out/<ds>/test_for_<id>_<name>/{train,test}.json   (datasets with >1 domain)
//   <out>/cross_set/<ds>/{train,test}.json                               (when a test set is defined)
//   <out>/random_split/<ds>/<1..count>/{train,val,test}.json  (lower-is-better scores flipped)
// Returns the files written, in order.
std::vector<std::string> write_protocols(const SourceData& source, const SplitOptions& opts, const std::string& out);

}  // namespace iqa
