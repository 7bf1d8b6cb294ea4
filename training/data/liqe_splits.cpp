// Random splits from LIQE's split files, as the reference's split_follow_liqe.py (see splits.h).
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "training/data/csv.h"
#include "training/data/splits.h"

namespace iqa {
namespace {

// The reference's mapping of a LIQE path to its data_json path.
std::string reference_path(const std::string& dataset, const std::string& liqe) {
  if (dataset == "live") return "LIVE/" + liqe;
  if (dataset == "csiq") return "CSIQ/" + liqe;
  if (dataset == "kadid10k") return "kadid10k/" + liqe;
  if (dataset == "koniq10k") return "koniq10k/" + liqe;
  if (dataset == "livec") return "LIVEChallenge/" + liqe;
  const std::string from = "ImageDatabase";  // bid
  const size_t at = liqe.find(from);
  return at == std::string::npos ? liqe : std::string(liqe).replace(at, from.size(), "BID");
}

}  // namespace

std::vector<Split> liqe_splits(const DatasetList& list, const std::string& dataset, const std::string& dir,
                               int count) {
  static const std::set<std::string> known = {"live", "csiq", "kadid10k", "bid", "livec", "koniq10k"};
  IQA_CHECK(known.count(dataset), dataset, ": LIQE has no split files for this dataset (it has: live, csiq, ",
            "kadid10k, bid, livec, koniq10k)");
  IQA_CHECK(count >= 1, "liqe_splits: count must be >= 1, got ", count);
  std::map<std::string, size_t> by_path;  // listed path -> entry
  for (size_t i = 0; i < list.entries.size(); ++i) by_path.emplace(list.entries[i].image, i);
  const std::string name = dataset == "livec" ? "clive" : dataset;
  std::vector<Split> out;
  for (int k = 1; k <= count; ++k) {
    Split split;
    for (const char* phase : {"train", "val", "test"}) {
      const std::string path = cat(dir, "/", k, "/", name, "_", phase, "_clip.txt");
      IQA_CHECK(std::filesystem::exists(path), path, ": LIQE split file not found (--liqe-splits takes the ",
                "dataset's splits2 folder)");
      std::vector<char> chosen(list.entries.size(), 0);
      const std::vector<std::string> lines = split_lines(read_text(path));
      size_t missing = 0;
      for (const std::string& line : lines) {
        const std::string liqe = line.substr(0, line.find_first_of(" \t"));
        auto it = by_path.find(reference_path(dataset, liqe));
        if (it == by_path.end()) {
          for (size_t i = 0; i < list.entries.size() && it == by_path.end(); ++i) {
            const std::string& img = list.entries[i].image;
            if (img.size() > liqe.size() && img.compare(img.size() - liqe.size(), liqe.size(), liqe) == 0 &&
                img[img.size() - liqe.size() - 1] == '/')
              it = by_path.find(img);
          }
        }
        if (it == by_path.end()) ++missing;
        else chosen[it->second] = 1;
      }
      DatasetList part;  // {"files": [...]} only, as the reference writes
      for (size_t i = 0; i < list.entries.size(); ++i)
        if (chosen[i]) part.entries.push_back(list.entries[i]);
      IQA_CHECK(!part.entries.empty(), path, ": none of its ", lines.size(), " images is in the ", dataset,
                " listing (different image folders? see --path-style)");
      if (missing > 0)
        std::fprintf(stderr, "note: %s %d %s: %zu/LIQE:%zu images found (the rest are not in the listing)\n",
                     dataset.c_str(), k, phase, part.entries.size(), lines.size());
      (std::string(phase) == "train" ? split.train : std::string(phase) == "val" ? split.val : split.test) = part;
    }
    out.push_back(std::move(split));
  }
  return out;
}

}  // namespace iqa
