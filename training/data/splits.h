// Building SIND's data_json listings from the datasets' own score files, and the three protocols
// (shared/spec/sind.md §5.3-5.4): leave-one-out folds per scene, cross-set train/test, and random
// splits (LIQE's split files, or our own 70/10/20 x10 keeping reference contents disjoint for
// synthetic datasets; EVA: 10 folds of train/test, as the reference).
//
// By default the output equals what the reference (github.com/ZachL1/SIND) committed under data_json/:
// its image paths (path_style "reference"; "iqa" gives iqa.cu's earlier paths, image_prefix any
// other folder), domain ids, folder and file names. Score files, per dataset (--scores, --scenes of
// tools/make-splits): the files as their authors ship them, .xlsx sheets (training/data/xlsx_reader.h)
// and MATLAB .mat variables (training/data/mat_reader.h) included, or a CSV export of the named
// sheet/variables (column names below, matched case-insensitively). Any dataset also takes a
// data_json listing as its one --scores file (e.g. the reference's all/<ds>_all.json).
//   koniq10k  koniq10k_scores_and_distributions.csv or koniq10k_distributions_sets.csv: image_name,
//             MOS_zscore [, set: training|validation|test -> official split].   -> koniq10k/1024x768/<image>
//   spaq      "MOS and Image attribute scores.xlsx" (or its CSV): Image name, MOS. -> SPAQ/TestImage/<image>
//             --scenes: "Scene category labels.xlsx" (or its CSV): Image name + one 0/1 column per scene
//             (Animal, Cityscape, Human, Indoor scene, Landscape, Night scene, Plant, Still-life,
//             Others), or one column "Scene category" listing 1-based numbers or names. Multi-label
//             images: the reference drew one with an unseeded random.choice, so its committed
//             spaq_all.json is the canonical choice (--scene-choice); without it one is drawn from the seed.
//   livec     Data/AllImages_release.mat + Data/AllMOS_release.mat (variables AllImages_release,
//             AllMOS_release; either order), or a CSV image, mos.            -> LIVEChallenge/Images/<image>
//   bid       DatabaseGrades.xlsx (its first two columns, as the reference), or a CSV image (or its
//             number: 1 -> DatabaseImage0001.JPG), mos.                    -> BID/<image>
//   cid2013   the workbook's "CID2013 MOS" sheet (else its first), or its CSV: Source_ID (".jpg" added)
//             or image, Realigned MOS.                                      -> CID2013/<image>
//   kadid10k  dmos.csv: dist_img, ref_img, dmos[, var]. Domain 600 + type.     -> kadid10k/images/<dist_img>
//   csiq      csiq.DMOS.xlsx as shipped (its all_by_image sheet: image, dst_type, dst_lev, dmos) or a CSV
//             of that sheet, or hyperIQA's csiq_label.txt ("<content>.<TAG>.<level>.png <dmos>", which the
//             reference reads). Domain 800 + folder in alphabetical
//             order (800 awgn, 801 blur, 802 contrast, 803 fnoise, 804 jpeg, 805 jpeg2000).
//             -> CSIQ/dst_imgs/<folder>/<content>.<AWGN|BLUR|contrast|fnoise|JPEG|jpeg2000>.<lev>.png
//   live      LIVE release 2's dmos_realigned.mat (dmos_new) + refnames_all.mat (refnames_all), images
//             in hyperIQA's order (jp2k img1..227, jpeg 1..233, wn, gblur, fastfading 1..174); or a CSV
//             image (e.g. jp2k/img1.bmp), reference, dmos. Domain 700 + type (0 jp2k, 1 jpeg, 2 wn,
//             3 gblur, 4 fastfading); references (DMOS 0) included as listed.  -> LIVE/<image>
//   tid2013   mos_with_names.txt: "<mos> <name>" per line. Domain 900 + reference number (iXX).
//             -> TID2013/distorted_images/<name>
//   eva       votes_filtered.csv ('='-separated): image_id, score -> mean vote per image.
//             --scenes: image_content_category.csv: image_id, category (1..6), whose order is kept;
//             images without votes left out. Domain 1100 + category.
//             -> EVA/eva-dataset-master/images/EVA_category/EVA_category/<category>/<image_id>.jpg
//   para      PARA-GiaaTrain.csv and PARA-GiaaTest.csv (the file name says which; official split):
//             sessionId, imageName, aestheticScore_mean, semantic. Domain 1200 + alphabetical rank of
//             semantic.                                                     -> PARA/imgs/<sessionId>/<imageName>
//   ava       AVA.txt: index, image id, 10 vote counts, tags. Score = mean vote, domain 1300.
//             -> AVA/data/image/<id>.jpg
//   nnid      mos512_with_names.txt, mos1024_with_names.txt, mos2048_with_names.txt: "<mos> <name>".
//             Domain 1400 / 1401 / 1402.                  -> NNID/<sub512|sub1024|Sub2048>/<name>
//   piq23     Scores_Overall.csv: IMAGE PATH, JOD, SCENE. Domain = SCENE's trailing number. -> PIQ23/<path>
//   agiqa3k   data.csv: name, mos_quality, style. Domain 500 + alphabetical rank of style ("other"
//             when empty).                                                  -> AGIQA-3K/images/<name>
//   pipal     the PIPAL folder itself: training/Train_Label/*.txt and validation/val_label.txt
//             ("<image>,<score>"); domain 1500 + reference number; training scores normalised
//             (s - 868.2988) / (1857 - 868.2988), validation kept raw, as the reference.
//             -> PIPAL/training/Distortion_<k>/<image>, PIPAL/validation/Dis/<image>
// koniq10k, livec and bid have no scene labels of their own (SIND labels them by CLIP zero-shot):
// --scenes may give a CSV "image, scene" with the nine SPAQ scene names, mapped to base + SPAQ index;
// without it every image is in domain `base`.
#pragma once
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "training/data/dataset.h"

namespace iqa {

struct SourceFiles {
  std::vector<std::string> scores;  // most datasets: one file; para: train and test; nnid: three
  std::string scenes;               // optional scene-label file (required for spaq and eva)
  std::string path_style = "reference";  // "reference" or "iqa" (see image_prefixes)
  std::string image_prefix;         // replaces the dataset's folder prefix when set
  std::string scene_choice;         // spaq: a data_json whose domain_id picks among multiple scenes
};

// {dataset, folder prefix in the reference's data_json, iqa.cu's earlier prefix}; "{category}" stands
// for EVA's content category.
const std::vector<std::tuple<std::string, std::string, std::string>>& image_prefixes();

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
  std::string name;  // "test_for_<domain_id>_<scene>", spaces as '-', as the reference's folders
  DatasetList train, test;
};
// One fold per domain (increasing id): test = that domain, train = every other entry; both keep the
// listing's whole domain_name table, as the reference's.
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

// The reference's EVA protocol (AesCLIP's): `folds` folds of n / folds images (remainder always in
// train) over a shuffle of the listing, train = the rest in shuffled order; no val. The reference's
// shuffle is unseeded; ours is SeededIndexRandom(seed, 0).
std::vector<Split> kfold_splits(const DatasetList& list, int folds = 10, uint64_t seed = 0);

// The reference's split_follow_liqe.py: LIQE's split files <dir>/<k>/<name>_{train,val,test}_clip.txt
// (k = 1..count; name = the dataset, "clive" for livec; first field of each line = the image path
// inside LIQE's dataset folder) select entries of `list` (in listing order). Paths map as the
// reference's: LIVE/, CSIQ/, kadid10k/, koniq10k/, LIVEChallenge/ prefixed, BID's ImageDatabase/ ->
// BID/; a path that does not match so is matched as the tail of a listed path. Lines matching no entry
// are reported on stderr, as the reference's counts; a part matching nothing is an error.
// Datasets: live, csiq, kadid10k, bid, livec, koniq10k.
std::vector<Split> liqe_splits(const DatasetList& list, const std::string& dataset, const std::string& dir,
                               int count = 10);

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
  std::string liqe_dir;                  // random splits from LIQE's files (liqe_splits) instead of ours
  std::string layout = "reference";      // file tree: "reference" or "iqa" (iqa.cu's earlier one)
};
// The datasets the reference uses only as cross-set test sets: for_cross_set/test/<ds>.json.
bool test_only_dataset(const std::string& dataset);
// Writes the listing and the requested protocols, in the reference's tree (layout "reference"):
//   <out>/all/<ds>_all.json
//   <out>/for_leave_one_out/<ds>/test_for_<id>_<name>/{train,test}.json   (datasets with >1 domain)
//   <out>/for_cross_set/train/<ds>_train.json, <out>/for_cross_set/test/<ds>_test.json (when a test set
//       is defined); test-only datasets: <out>/for_cross_set/test/<ds>.json (the test list, else all)
//   <out>/random_split/<ds>/<1..count>/{train,val,test}.json  (lower-is-better scores flipped;
//       eva: train and test only, kfold_splits)
// Layout "iqa": all/<ds>.json and cross_set/<ds>/{train,test}.json instead. Returns the files written.
std::vector<std::string> write_protocols(const SourceData& source, const SplitOptions& opts, const std::string& out);

}  // namespace iqa
