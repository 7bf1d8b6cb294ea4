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
//   make-splits --dataset livec --scores livec_mos.csv --scene_labels livec_scenes.csv   (iqa-scenes' output)
#include <CLI/CLI.hpp>

#include <cstdio>

#include "training/data/csv.h"
#include "training/data/scene_labels.h"
#include "tools/make_splits_flags.h"
#include "tools/tool_main.h"

using namespace iqa;

int main(int argc, char** argv) {
  return iqa::tools::tool_main<MakeSplitsArgs>(
      argc, argv,
      "make-splits: SIND data_json listings (all, leave-one-out, cross-set, random 70/10/20) from a "
      "dataset's score files",
      add_make_splits_flags, [&](MakeSplitsArgs& a, const CLI::App&) {
        finish_make_splits_args(a);
        const std::string& dataset = a.dataset;
        SplitOptions& opts = a.opts;
        const std::string& test_list = a.test_list;
        if (!test_list.empty()) opts.test_images = split_lines(read_text(test_list));

        SourceData source = load_source(dataset, a.files, opts.seed);
        if (!a.scene_labels.empty()) apply_scene_labels(source.list, read_scene_label_file(a.scene_labels));
        std::printf("%s: %s", dataset.c_str(), format_summary(summarize_dataset(source.list)).c_str());
        if (!a.validate_root.empty()) validate_dataset(source.list, a.validate_root, dataset);
        if (opts.cross_set && opts.test_images.empty() && source.official_split.empty() &&
            !(opts.layout == "reference" && test_only_dataset(dataset)))
          std::printf("note: %s has no official split in its score files; pass --test-list for cross-set\n",
                      dataset.c_str());
        const std::vector<std::string> written = write_protocols(source, opts, a.out);
        std::printf("wrote %zu files under %s\n", written.size(), a.out.c_str());
        return 0;
      });
}
