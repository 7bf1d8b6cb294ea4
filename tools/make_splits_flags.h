// make-splits' command line, registered here rather than in its main so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the tool does, without reading any score file.
#pragma once
#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <vector>

#include "training/data/splits.h"

namespace iqa {

struct MakeSplitsArgs {
  std::string dataset, out = "data_json", test_list, validate_root, scene_labels;
  SourceFiles files;
  SplitOptions opts;
  std::vector<std::string> protocols = {"leave-one-out", "cross-set", "random-split"};
};

inline void add_make_splits_flags(CLI::App& app, MakeSplitsArgs& a) {
  app.add_option("--dataset", a.dataset, "koniq10k, spaq, livec, bid, cid2013, kadid10k, csiq, live, tid2013, eva, "
                                         "para, ava, nnid, piq23, agiqa3k, pipal")
      ->required();
  app.add_option("--scores", a.files.scores, "score file(s) as shipped (.csv, .txt, .xlsx, .mat); para: the GiaaTrain and "
                                             "GiaaTest CSVs; nnid: its three mos*_with_names.txt; livec: AllImages_release.mat "
                                             "and AllMOS_release.mat; live: dmos_realigned.mat and refnames_all.mat; pipal: "
                                             "the PIPAL folder; any: a data_json listing")
      ->required();
  app.add_option("--path_style,--path-style", a.files.path_style,
                 "reference (default: the SIND reference's image paths and file tree) or iqa (iqa.cu's earlier ones)")
      ->check(CLI::IsMember({"reference", "iqa"}));
  app.add_option("--image_prefix,--image-prefix", a.files.image_prefix,
                 "folder of the images relative to the data root, replacing the dataset's default prefix");
  app.add_option("--scene_choice,--scene-choice", a.files.scene_choice,
                 "spaq: a data_json (the reference's all/spaq_all.json) whose domain_id picks among an image's scenes");
  app.add_option("--liqe_splits,--liqe-splits", a.opts.liqe_dir,
                 "random splits from LIQE's split files: the dataset's splits2 folder (live, csiq, kadid10k, bid, "
                 "livec, koniq10k), as the reference's split_follow_liqe.py");
  app.add_option("--scenes", a.files.scenes, "scene labels (required: spaq's Scene category labels.xlsx, eva's "
                                             "image_content_category.csv; optional for koniq10k/livec/bid: a CSV "
                                             "image,scene with the nine SPAQ scene names)");
  app.add_option("--scene_labels,--scene-labels", a.scene_labels,
                 "iqa-scenes' output (CSV or JSON): its domain_id and scene replace every image's domain");
  app.add_option("--out", a.out, "output folder (default data_json)");
  app.add_option("--protocols", a.protocols, "any of leave-one-out, cross-set, random-split (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember({"leave-one-out", "cross-set", "random-split"}));
  app.add_option("--test-list,--test_list", a.test_list,
                 "cross-set test images, one per line (listed path or file name); default: the official split");
  app.add_option("--splits", a.opts.random_count, "number of random splits (default 10)")->check(CLI::Range(1, 1000));
  app.add_option("--seed", a.opts.seed, "seed of the random splits and of SPAQ's multi-label scene choice");
  app.add_option("--validate", a.validate_root,
                 "data root: check that every listed image exists and its header decodes, then print a summary");
}

// The protocols and layout into SplitOptions (the test list is read later, by the run).
inline void finish_make_splits_args(MakeSplitsArgs& a) {
  auto wants = [&](const char* p) { return std::find(a.protocols.begin(), a.protocols.end(), p) != a.protocols.end(); };
  a.opts.leave_one_out = wants("leave-one-out");
  a.opts.cross_set = wants("cross-set");
  a.opts.random_split = wants("random-split");
  a.opts.layout = a.files.path_style;
}

}  // namespace iqa
