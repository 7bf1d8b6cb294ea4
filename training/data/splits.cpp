// The three evaluation protocols over a dataset listing, and writing them as SIND's folders
// (see splits.h).
#include "training/data/splits.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "training/data/scene_sampler.h"

namespace iqa {
namespace {

DatasetList with_entries(const DatasetList& like, std::vector<DatasetEntry> entries) {
  DatasetList out;
  out.entries = std::move(entries);
  for (const DatasetEntry& e : out.entries) {
    auto it = like.domain_names.find(e.domain_id);
    if (it != like.domain_names.end()) out.domain_names[it->first] = it->second;
  }
  return out;
}

std::string domain_label(const DatasetList& list, int domain_id) {
  auto it = list.domain_names.find(domain_id);
  if (it != list.domain_names.end()) return it->second;
  for (const DatasetEntry& e : list.entries)
    if (e.domain_id == domain_id && !e.scene.empty()) return e.scene;
  return "";
}

// Folder-safe as the reference's names ("Indoor scene" -> "Indoor-scene"): letters, digits, '-', '_'
// kept, spaces become '-', runs of anything else one '_'.
std::string folder_safe(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_')
      out += char(c);
    else if (c == ' ')
      out += '-';
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && (out.back() == '_' || out.back() == '-')) out.pop_back();
  return out;
}

std::string file_name_of(const std::string& p) {
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

}  // namespace

std::vector<Fold> leave_one_out_folds(const DatasetList& list) {
  std::set<int> domains;
  for (const DatasetEntry& e : list.entries) domains.insert(e.domain_id);
  std::vector<Fold> folds;
  for (int d : domains) {
    std::vector<DatasetEntry> train, test;
    for (const DatasetEntry& e : list.entries) (e.domain_id == d ? test : train).push_back(e);
    const std::string label = folder_safe(domain_label(list, d));
    Fold f{cat("test_for_", d, label.empty() ? "" : "_" + label), {}, {}};
    f.train.entries = std::move(train);
    f.test.entries = std::move(test);
    f.train.domain_names = f.test.domain_names = list.domain_names;
    folds.push_back(std::move(f));
  }
  return folds;
}

std::vector<Split> random_splits(const DatasetList& list, bool content_disjoint, int count, uint64_t seed,
                                 double train_frac, double val_frac) {
  IQA_CHECK(count >= 1, "random_splits: count must be >= 1, got ", count);
  IQA_CHECK(train_frac >= 0 && val_frac >= 0 && train_frac + val_frac <= 1, "random_splits: fractions ", train_frac,
            " + ", val_frac, " must lie in [0, 1]");
  // Groups in order of first appearance: reference contents, or single images.
  std::map<std::string, int64_t> group_of;
  std::vector<int64_t> entry_group(list.entries.size());
  for (size_t i = 0; i < list.entries.size(); ++i) {
    const DatasetEntry& e = list.entries[i];
    IQA_CHECK(!content_disjoint || !e.reference.empty(), "random_splits: entry ", i, " (", e.image,
              ") has no reference content, needed for content-disjoint splits");
    const std::string key = content_disjoint ? e.reference : cat(i);
    auto [it, inserted] = group_of.try_emplace(key, int64_t(group_of.size()));
    entry_group[i] = it->second;
  }
  const int64_t groups = int64_t(group_of.size());
  const int64_t n_train = std::llround(train_frac * double(groups));
  const int64_t n_val = std::min(groups - n_train, int64_t(std::llround(val_frac * double(groups))));

  std::vector<Split> out;
  for (int k = 0; k < count; ++k) {
    std::vector<int64_t> order(static_cast<size_t>(groups));
    for (int64_t g = 0; g < groups; ++g) order[size_t(g)] = g;
    SeededIndexRandom rng(seed, uint64_t(k));
    shuffle_indices(order, rng);
    std::vector<int> part(static_cast<size_t>(groups));  // 0 train, 1 val, 2 test
    for (int64_t pos = 0; pos < groups; ++pos)
      part[size_t(order[size_t(pos)])] = pos < n_train ? 0 : pos < n_train + n_val ? 1 : 2;
    std::vector<DatasetEntry> parts[3];
    for (size_t i = 0; i < list.entries.size(); ++i) parts[part[size_t(entry_group[i])]].push_back(list.entries[i]);
    out.push_back({with_entries(list, std::move(parts[0])), with_entries(list, std::move(parts[1])),
                   with_entries(list, std::move(parts[2]))});
  }
  return out;
}

std::vector<Split> kfold_splits(const DatasetList& list, int folds, uint64_t seed) {
  IQA_CHECK(folds >= 2, "kfold_splits: need at least 2 folds, got ", folds);
  const size_t n = list.entries.size(), per = n / size_t(folds);
  IQA_CHECK(per > 0, "kfold_splits: ", n, " images are too few for ", folds, " folds");
  std::vector<int64_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = int64_t(i);
  SeededIndexRandom rng(seed, 0);
  shuffle_indices(order, rng);
  std::vector<Split> out;
  for (size_t k = 0; k < size_t(folds); ++k) {
    std::vector<DatasetEntry> train, test;
    for (size_t pos = 0; pos < n; ++pos)
      (pos >= k * per && pos < (k + 1) * per ? test : train).push_back(list.entries[size_t(order[pos])]);
    out.push_back({with_entries(list, std::move(train)), {}, with_entries(list, std::move(test))});
  }
  return out;
}

bool test_only_dataset(const std::string& d) {
  return d == "livec" || d == "bid" || d == "cid2013" || d == "live" || d == "csiq" || d == "agiqa3k" || d == "nnid";
}

Split cross_set_split(const SourceData& source, const std::vector<std::string>& test_images) {
  const auto& entries = source.list.entries;
  std::vector<DatasetEntry> train, test;
  if (!test_images.empty()) {
    std::set<std::string> wanted(test_images.begin(), test_images.end());
    std::set<std::string> matched;
    for (const DatasetEntry& e : entries) {
      const bool by_path = wanted.count(e.image) != 0, by_name = wanted.count(file_name_of(e.image)) != 0;
      if (by_path) matched.insert(e.image);
      if (by_name) matched.insert(file_name_of(e.image));
      (by_path || by_name ? test : train).push_back(e);
    }
    for (const std::string& w : wanted)
      IQA_CHECK(matched.count(w), source.dataset, ": test-list image '", w, "' is not in the dataset");
  } else {
    IQA_CHECK(!source.official_split.empty(), source.dataset,
              ": no official train/test split in its score files; pass a test list");
    IQA_CHECK(source.official_split.size() == entries.size(), source.dataset, ": official split has ",
              source.official_split.size(), " labels for ", entries.size(), " images");
    for (size_t i = 0; i < entries.size(); ++i) (source.official_split[i] == "test" ? test : train).push_back(entries[i]);
  }
  IQA_CHECK(!test.empty(), source.dataset, ": the cross-set test set is empty");
  return {with_entries(source.list, std::move(train)), {}, with_entries(source.list, std::move(test))};
}

DatasetList flip_scores(const DatasetList& list) {
  DatasetList out = list;
  if (out.entries.empty()) return out;
  double top = out.entries[0].score;
  for (const DatasetEntry& e : out.entries) top = std::max(top, e.score);
  for (DatasetEntry& e : out.entries) e.score = top - e.score;
  return out;
}

std::vector<std::string> write_protocols(const SourceData& source, const SplitOptions& opts, const std::string& out) {
  namespace fs = std::filesystem;
  const DatasetInfo& info = dataset_info(source.dataset);
  const std::string& ds = source.dataset;
  IQA_CHECK(opts.layout == "reference" || opts.layout == "iqa", "unknown layout '", opts.layout,
            "' (reference or iqa)");
  const bool ref = opts.layout == "reference";
  std::vector<std::string> written;
  auto write = [&](const fs::path& path, const DatasetList& list) {
    fs::create_directories(path.parent_path());
    write_data_json(path.string(), list);
    written.push_back(path.string());
  };
  write(fs::path(out) / "all" / (ref ? ds + "_all.json" : ds + ".json"), source.list);

  if (opts.leave_one_out) {
    std::vector<Fold> folds = leave_one_out_folds(source.list);
    if (folds.size() > 1)
      for (const Fold& f : folds) {
        const fs::path dir = fs::path(out) / "for_leave_one_out" / ds / f.name;
        write(dir / "train.json", f.train);
        write(dir / "test.json", f.test);
      }
  }
  const bool has_test = !opts.test_images.empty() || !source.official_split.empty();
  if (opts.cross_set && ref && test_only_dataset(ds)) {
    // The reference tests on these whole (or on its test list) and never trains on them.
    const DatasetList test = has_test ? cross_set_split(source, opts.test_images).test : source.list;
    write(fs::path(out) / "for_cross_set" / "test" / (ds + ".json"), test);
  } else if (opts.cross_set && has_test) {
    Split s = cross_set_split(source, opts.test_images);
    const fs::path root = fs::path(out);
    const fs::path cross = ref ? root / "for_cross_set" : root / "cross_set" / ds;
    write(ref ? cross / "train" / (ds + "_train.json") : cross / "train.json", s.train);
    write(ref ? cross / "test" / (ds + "_test.json") : cross / "test.json", s.test);
  }
  if (opts.random_split) {
    const DatasetList scored =
        info.direction == ScoreDirection::LowerIsBetter ? flip_scores(source.list) : source.list;
    std::vector<Split> splits = !opts.liqe_dir.empty() ? liqe_splits(scored, ds, opts.liqe_dir, opts.random_count)
                                : ds == "eva" ? kfold_splits(scored, 10, opts.seed)
                                              : random_splits(scored, info.synthetic, opts.random_count, opts.seed);
    for (size_t k = 0; k < splits.size(); ++k) {
      const fs::path dir = fs::path(out) / "random_split" / ds / std::to_string(k + 1);
      write(dir / "train.json", splits[k].train);
      if (ds != "eva" || !opts.liqe_dir.empty()) write(dir / "val.json", splits[k].val);
      write(dir / "test.json", splits[k].test);
    }
  }
  return written;
}

}  // namespace iqa
