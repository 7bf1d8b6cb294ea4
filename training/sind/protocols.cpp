#include "engine/atomic_file.h"
#include "training/sind/protocols.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/error.h"
#include "training/metrics.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

// A cross-set listing by dataset name. The reference's tree first (make-splits' default):
// for_cross_set/train/<ds>_train.json; for_cross_set/test/<ds>_test.json, for_cross_set/test/<ds>.json or
// all/<ds>_all.json; then iqa.cu's older tree (make-splits --path_style iqa): cross_set/<ds>/{train,test}.json
// and all/<ds>.json. Throws naming every path tried.
std::string cross_set_listing(const std::string& root, const std::string& ds, bool train) {
  const std::vector<std::string> tried =
      train ? std::vector<std::string>{root + "/for_cross_set/train/" + ds + "_train.json",
                                       root + "/cross_set/" + ds + "/train.json"}
            : std::vector<std::string>{root + "/for_cross_set/test/" + ds + "_test.json",
                                       root + "/for_cross_set/test/" + ds + ".json", root + "/all/" + ds + "_all.json",
                                       root + "/cross_set/" + ds + "/test.json", root + "/all/" + ds + ".json"};
  std::string list;
  for (const auto& p : tried) {
    if (fs::exists(p)) return p;
    list += (list.empty() ? "" : ", ") + p;
  }
  throw Error("sind-train: no cross-set " + std::string(train ? "train" : "test") + " listing for '" + ds +
              "' (tried " + list + ")");
}

bool is_path(const std::string& s) { return s.size() > 5 && s.substr(s.size() - 5) == ".json"; }
std::string stem_of(const std::string& s) { return is_path(s) ? fs::path(s).parent_path().filename().string() + "/" + fs::path(s).stem().string() : s; }

DatasetList concat(const std::vector<DatasetList>& lists) {
  DatasetList out;
  for (const auto& l : lists) {
    out.entries.insert(out.entries.end(), l.entries.begin(), l.entries.end());
    out.domain_names.insert(l.domain_names.begin(), l.domain_names.end());
  }
  return out;
}

// SIND's domain ids say which dataset a scene belongs to (sind.md §5.2): an id no dataset owns is a
// broken listing, named with the entry and the known ranges.
void require_known_domains(const DatasetList& list, const std::string& path) {
  for (size_t i = 0; i < list.entries.size(); ++i) {
    const int id = list.entries[i].domain_id;
    if (dataset_for_domain(id)) continue;
    std::string ranges;
    for (const DatasetInfo& d : dataset_registry())
      ranges += cat(ranges.empty() ? "" : ", ", d.name, " ", d.domain_base, "..", d.domain_end - 1);
    fail(cat(path, ": files[", i, "].domain_id: ", id, " is outside every known dataset's range (", ranges, ")"));
  }
}

DatasetList read_or_throw(const std::string& path, const std::string& why) {
  IQA_CHECK(fs::exists(path), "sind-train: ", why, ": ", path, " does not exist (run tools/make-splits, or set --json_root)");
  DatasetList list = read_data_json(path);
  require_known_domains(list, path);
  return list;
}

DatasetList relabel(DatasetList l, const SindConfig& cfg, bool keep_spaq) {
  return cfg.dataset_domain ? to_dataset_domains(std::move(l), keep_spaq) : l;
}

// random-split oversamples LIVE and CSIQ x4 in training, as the reference's random_split_exp.sh.
DatasetList oversampled(const std::string& ds, const DatasetList& l) {
  if (ds != "live" && ds != "csiq") return l;
  return concat({l, l, l, l});
}

std::string f4(double v) {
  if (!std::isfinite(v)) return "  n/a ";
  char b[16];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

}  // namespace

std::vector<ProtocolRun> plan_protocol(const SindConfig& cfg) {
  std::vector<ProtocolRun> runs;
  const std::string root = cfg.json_root;
  const std::vector<std::string> tests = cfg.test_dataset.empty() ? cfg.train_dataset : cfg.test_dataset;
  if (cfg.exp_type == Protocol::LeaveOneOut) {
    IQA_CHECK(cfg.train_dataset.size() == 1, "sind-train: leave-one-out takes one --train_dataset");
    const std::string dir = root + "/for_leave_one_out/" + cfg.train_dataset[0];
    IQA_CHECK(fs::is_directory(dir), "sind-train: ", dir, " does not exist (run tools/make-splits)");
    std::vector<std::pair<int, std::string>> folds;  // by domain id, as make-splits numbers them
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (!e.is_directory() || n.rfind("test_for_", 0) != 0) continue;
      folds.emplace_back(std::atoi(n.c_str() + 9), n);
    }
    std::sort(folds.begin(), folds.end());
    IQA_CHECK(!folds.empty(), "sind-train: no test_for_* folds in ", dir);
    if (cfg.dataset_domain)
      std::cerr << "note: --dataset_domain has no effect in leave-one-out (the reference ignores it there too)\n";
    for (const auto& [id, n] : folds) {
      ProtocolRun r{n, {}};
      // --dataset_domain is not applied here: the reference's leave_one_out_exp never reads it (and
      // one dataset's folds would collapse into a single domain).
      r.data.train = read_or_throw(dir + "/" + n + "/train.json", "fold train");
      r.data.tests.push_back({n, read_or_throw(dir + "/" + n + "/test.json", "fold test")});
      runs.push_back(std::move(r));
    }
  } else if (cfg.exp_type == Protocol::CrossSet) {
    ProtocolRun r{"", {}};
    std::vector<DatasetList> train;
    for (const auto& ds : cfg.train_dataset)
      train.push_back(relabel(read_or_throw(is_path(ds) ? ds : cross_set_listing(root, ds, true), "train set"), cfg, true));
    r.data.train = concat(train);
    for (const auto& ds : tests) {
      const std::string p = is_path(ds) ? ds : cross_set_listing(root, ds, false);
      r.data.tests.push_back({stem_of(ds), read_or_throw(p, "test set " + ds)});
    }
    runs.push_back(std::move(r));
  } else {
    for (int i = 1; i <= cfg.splits; ++i) {
      ProtocolRun r{"split_" + std::to_string(i), {}};
      std::vector<DatasetList> train;
      for (const auto& ds : cfg.train_dataset) {
        const std::string d = root + "/random_split/" + ds + "/" + std::to_string(i);
        train.push_back(oversampled(ds, relabel(read_or_throw(d + "/train.json", "split train"), cfg, false)));
      }
      r.data.train = concat(train);
      for (const auto& ds : tests) {
        const std::string d = root + "/random_split/" + ds + "/" + std::to_string(i);
        r.data.tests.push_back({ds, read_or_throw(d + "/test.json", "split test")});
        // EVA's splits have no val.json: that split runs without validation, as in the reference.
        if (auto v = read_data_json_if_present(d + "/val.json", "split " + std::to_string(i) + " of " + ds +
                                                                    " runs without validation, as in the reference"))
          r.data.vals.push_back({ds, std::move(*v)});
      }
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

ProtocolSummary run_protocol(const SindConfig& cfg, const std::vector<ProtocolRun>& runs, const TrainHooks& hooks) {
  fs::create_directories(cfg.project_dir);
  write_file_atomically(cfg.project_dir + "/config.json", cfg.to_json() + "\n", "sind-train");
  // Every listed image of every run is checked before any training starts.
  {
    std::set<std::string> seen;
    DatasetList all;
    for (const auto& r : runs) {
      for (const DatasetList* l : {&r.data.train}) all.entries.insert(all.entries.end(), l->entries.begin(), l->entries.end());
      for (const auto& t : r.data.tests) all.entries.insert(all.entries.end(), t.list.entries.begin(), t.list.entries.end());
      for (const auto& t : r.data.vals) all.entries.insert(all.entries.end(), t.list.entries.begin(), t.list.entries.end());
    }
    DatasetList unique;
    for (const auto& e : all.entries)
      if (seen.insert(e.image).second) unique.entries.push_back(e);
    if (cfg.bad_image == BadImagePolicy::Fail)
      validate_dataset(unique, cfg.data_root, std::string("datasets of ") + choice_name(cfg.exp_type));
  }
  ProtocolSummary summary;
  std::vector<std::pair<std::string, RunResult>> results;
  for (const ProtocolRun& r : runs) {
    const std::string dir = r.name.empty() ? cfg.project_dir : cfg.project_dir + "/" + r.name;
    const std::string result_path = dir + "/result.json";
    RunResult res;
    if (!cfg.resume.empty() && fs::exists(result_path)) {
      std::ifstream f(result_path);
      std::stringstream ss;
      ss << f.rdbuf();
      try {
        res = RunResult::from_json(ss.str());
      } catch (const Error& e) {
        fail(cat("sind-train: ", result_path, " (a finished run's result, reused by --resume): ", e.what(),
                 "; delete it to train that run again"));
      }
    } else {
      if (!r.name.empty()) std::cout << "== " << r.name << " ==" << std::endl;
      SindConfig rc = cfg;
      if (!cfg.resume.empty() && cfg.resume != "auto" && runs.size() > 1) rc.resume = "auto";
      res = train_sind(rc, r.data, dir, hooks);
      if (res.interrupted) {
        summary.interrupted = true;
        summary.lines.push_back("interrupted in " + (r.name.empty() ? cfg.project_dir : r.name) +
                                "; rerun with --resume auto to continue");
        return summary;
      }
      // Read back by a resumed run: whole or absent, never half written.
      write_file_atomically(result_path, res.to_json() + "\n", "sind-train");
    }
    results.emplace_back(r.name, std::move(res));
  }

  // ---- the table ---------------------------------------------------------------------------------------
  auto& L = summary.lines;
  const bool has_val = std::any_of(runs.begin(), runs.end(), [](const ProtocolRun& r) { return !r.data.vals.empty(); });
  L.push_back(std::string("Summary (") + choice_name(cfg.exp_type) + ", " + choice_name(cfg.clip_model) + ", loss " +
              choice_name(cfg.loss_type) + ")");
  L.push_back("  'best-epoch' = the reference's selection: best SRCC over evaluated epochs ON THE TEST SET (optimistic).");
  L.push_back(has_val ? "  'val-selected' = test values at the epoch with the best validation SRCC (honest)."
                      : "  'final' = the last evaluated epoch, chosen without looking at the test set (honest).");
  char head[256];
  std::snprintf(head, sizeof head, "  %-28s %6s  %6s %6s  %6s %6s %6s", "run / test set", "images", "best-SRCC",
                "PLCC", has_val ? "val-SR" : "fin-SR", "PLCC", "epoch");
  L.push_back(head);
  std::map<std::string, std::vector<EvalPoint>> best_by_set, honest_by_set;
  for (const auto& [name, res] : results) {
    for (const SetResult& s : res.sets) {
      const EvalPoint b = s.best_on_test(), h = has_val ? s.val_selected() : s.last();
      const std::string key = cfg.exp_type == Protocol::LeaveOneOut ? "fold" : s.name;
      best_by_set[key].push_back(b);
      honest_by_set[key].push_back(h);
      char row[256];
      const std::string label = (name.empty() || name == s.name) ? s.name : name + ":" + s.name;
      std::snprintf(row, sizeof row, "  %-28s %6lld  %9s %6s  %6s %6s %6d", label.substr(0, 28).c_str(),
                    (long long)b.count, f4(b.srcc).c_str(), f4(b.plcc).c_str(), f4(h.srcc).c_str(), f4(h.plcc).c_str(),
                    b.epoch);
      L.push_back(row);
    }
  }
  nlohmann::json js{{"exp_type", choice_name(cfg.exp_type)}, {"aggregates", nlohmann::json::array()}};
  if (results.size() > 1) {
    for (const auto& [set, best] : best_by_set) {
      std::vector<double> bs, bp, hs, hp;
      for (const auto& p : best) bs.push_back(p.srcc), bp.push_back(p.plcc);
      for (const auto& p : honest_by_set[set]) hs.push_back(p.srcc), hp.push_back(p.plcc);
      for (const char* what : {"mean", "median"}) {
        auto agg = [&](const std::vector<double>& v) { return std::string(what) == "mean" ? mean(v) : median(v); };
        char row[256];
        std::snprintf(row, sizeof row, "  %-28s %6s  %9s %6s  %6s %6s", (std::string(what) + " " + set).c_str(), "",
                      f4(agg(bs)).c_str(), f4(agg(bp)).c_str(), f4(agg(hs)).c_str(), f4(agg(hp)).c_str());
        L.push_back(row);
        js["aggregates"].push_back({{"set", set}, {"stat", what}, {"best_epoch_srcc", agg(bs)}, {"best_epoch_plcc", agg(bp)},
                                    {has_val ? "val_selected_srcc" : "final_srcc", agg(hs)},
                                    {has_val ? "val_selected_plcc" : "final_plcc", agg(hp)}});
      }
    }
  }
  std::string text;
  for (const auto& l : L) text += l + "\n";
  write_file_atomically(cfg.project_dir + "/summary.txt", text, "sind-train");
  write_file_atomically(cfg.project_dir + "/summary.json", js.dump(2) + "\n", "sind-train");
  summary.results = std::move(results);
  return summary;
}

}  // namespace iqa::training
