// make-splits: builds SIND's data_json listings and protocol splits from a dataset's own score files.
// Thin front end; formats and layouts are documented in training/data/splits.h.
//
// Output equals the reference's committed data_json tree (paths, ids, names) unless --path_style iqa.
//   make-splits --dataset kadid10k --scores kadid10k/dmos.csv --out data_json
//   make-splits --dataset spaq --scores "SPAQ/annotations/MOS and Image attribute scores.xlsx" \
//               --scenes "SPAQ/annotations/Scene category labels.xlsx" --scene_choice data_json/all/spaq_all.json
//   make-splits --dataset livec --scores LIVEChallenge/Data/AllImages_release.mat LIVEChallenge/Data/AllMOS_release.mat
//   make-splits --dataset live --scores LIVE/dmos_realigned.mat LIVE/refnames_all.mat
//   make-splits --dataset para --scores PARA-GiaaTrain.csv --scores PARA-GiaaTest.csv
//   make-splits --dataset live --scores data_json/all/live_all.json --protocols random-split \
//               --liqe_splits sota/LIQE/IQA_Database/databaserelease2/splits2
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>

#include "training/data/csv.h"
#include "training/data/splits.h"
#include "tools/tool_error.h"

using namespace iqa;

int main(int argc, char** argv) {
  CLI::App app{"make-splits: SIND data_json listings (all, leave-one-out, cross-set, random 70/10/20) from a "
               "dataset's score files"};
  std::string dataset, out = "data_json", test_list, validate_root;
  SourceFiles files;
  SplitOptions opts;
  std::vector<std::string> protocols = {"leave-one-out", "cross-set", "random-split"};
  app.add_option("--dataset", dataset, "koniq10k, spaq, livec, bid, cid2013, kadid10k, csiq, live, tid2013, eva, "
                                       "para, ava, nnid, piq23, agiqa3k, pipal")
      ->required();
  app.add_option("--scores", files.scores, "score file(s) as shipped (.csv, .txt, .xlsx, .mat); para: the GiaaTrain and "
                                           "GiaaTest CSVs; nnid: its three mos*_with_names.txt; livec: AllImages_release.mat "
                                           "and AllMOS_release.mat; live: dmos_realigned.mat and refnames_all.mat; pipal: "
                                           "the PIPAL folder; any: a data_json listing")
      ->required();
  app.add_option("--path_style,--path-style", files.path_style,
                 "reference (default: the SIND reference's image paths and file tree) or iqa (iqa.cu's earlier ones)")
      ->check(CLI::IsMember({"reference", "iqa"}));
  app.add_option("--image_prefix,--image-prefix", files.image_prefix,
                 "folder of the images relative to the data root, replacing the dataset's default prefix");
  app.add_option("--scene_choice,--scene-choice", files.scene_choice,
                 "spaq: a data_json (the reference's all/spaq_all.json) whose domain_id picks among an image's scenes");
  app.add_option("--liqe_splits,--liqe-splits", opts.liqe_dir,
                 "random splits from LIQE's split files: the dataset's splits2 folder (live, csiq, kadid10k, bid, "
                 "livec, koniq10k), as the reference's split_follow_liqe.py");
  app.add_option("--scenes", files.scenes, "scene labels (required: spaq's Scene category labels.xlsx, eva's "
                                           "image_content_category.csv; optional for koniq10k/livec/bid: a CSV "
                                           "image,scene with the nine SPAQ scene names)");
  app.add_option("--out", out, "output folder (default data_json)");
  app.add_option("--protocols", protocols, "any of leave-one-out, cross-set, random-split (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember({"leave-one-out", "cross-set", "random-split"}));
  app.add_option("--test-list,--test_list", test_list,
                 "cross-set test images, one per line (listed path or file name); default: the official split");
  app.add_option("--splits", opts.random_count, "number of random splits (default 10)")->check(CLI::Range(1, 1000));
  app.add_option("--seed", opts.seed, "seed of the random splits and of SPAQ's multi-label scene choice");
  app.add_option("--validate", validate_root,
                 "data root: check that every listed image exists and its header decodes, then print a summary");
  CLI11_PARSE(app, argc, argv);

  try {
    auto wants = [&](const char* p) { return std::find(protocols.begin(), protocols.end(), p) != protocols.end(); };
    opts.leave_one_out = wants("leave-one-out");
    opts.cross_set = wants("cross-set");
    opts.random_split = wants("random-split");
    opts.layout = files.path_style;
    if (!test_list.empty()) opts.test_images = split_lines(read_text(test_list));

    const SourceData source = load_source(dataset, files, opts.seed);
    std::printf("%s: %s", dataset.c_str(), format_summary(summarize_dataset(source.list)).c_str());
    if (!validate_root.empty()) validate_dataset(source.list, validate_root, dataset);
    if (opts.cross_set && opts.test_images.empty() && source.official_split.empty() &&
        !(opts.layout == "reference" && test_only_dataset(dataset)))
      std::printf("note: %s has no official split in its score files; pass --test-list for cross-set\n",
                  dataset.c_str());
    const std::vector<std::string> written = write_protocols(source, opts, out);
    std::printf("wrote %zu files under %s\n", written.size(), out.c_str());
    return 0;
  } catch (const std::exception& e) {
    return iqa::tools::report_error("make-splits", e);
  }
}
