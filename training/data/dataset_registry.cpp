// The dataset registry, listing summaries, and validation before training (see dataset.h).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <thread>

#include "training/data/dataset.h"

namespace iqa {

const std::vector<DatasetInfo>& dataset_registry() {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  constexpr auto Up = ScoreDirection::HigherIsBetter;
  constexpr auto Down = ScoreDirection::LowerIsBetter;
  // Bases and score conventions: sind.md §5.2 and the reference's committed data_json. Each dataset owns
  // [domain_base, domain_end). Nominal ranges are each dataset's published scale; where the spec gives
  // none we chose (marked "chosen"):
  //  - koniq10k: MOS_zscore is rescaled to 0..100 by KonIQ's authors (observed ~4..88).
  //  - livec, cid2013 (realigned MOS), live (dmos_realigned): 0..100 scales (LIVE's realigned DMOS
  //    can fall slightly outside; validation only counts such scores, it does not reject them).
  //  - eva: mean of 0..10 votes; para: aestheticScore_mean on 1..5; agiqa3k: mos_quality 0..5.
  //  - ava: mean of the 1..10 vote histogram; nnid: MOS on 0..1 (observed 0.08..0.86).
  //  - pipal: SIND stores (s - 868.3) / (1857 - 868.3), i.e. ~0..1, for its training part (the
  //    reference's pipal_all.json keeps the validation part's raw scores: those count as outside).
  //  - piq23: JOD scores have no fixed bounds: unchecked (+-inf).
  static const std::vector<DatasetInfo> registry = {
      {"piq23", 0, 100, -kInf, kInf, Up, false, "JOD"},
      {"spaq", 100, 200, 0, 100, Up, false, "MOS"},
      {"livec", 200, 300, 0, 100, Up, false, "MOS"},
      {"koniq10k", 300, 400, 0, 100, Up, false, "MOS_zscore"},
      {"bid", 400, 450, 0, 5, Up, false, "MOS"},
      {"cid2013", 450, 500, 0, 100, Up, false, "realigned MOS"},
      {"agiqa3k", 500, 600, 0, 5, Up, false, "mos_quality"},
      {"kadid10k", 600, 700, 1, 5, Up, true, "dmos (MOS-like)"},
      {"live", 700, 800, 0, 100, Down, true, "dmos_realigned"},
      {"csiq", 800, 900, 0, 1, Down, true, "DMOS"},
      {"tid2013", 900, 1000, 0, 9, Up, true, "MOS"},
      {"eva", 1100, 1200, 0, 10, Up, false, "mean vote"},
      {"para", 1200, 1300, 1, 5, Up, false, "aestheticScore_mean"},
      {"ava", 1300, 1400, 1, 10, Up, false, "mean rating"},
      {"nnid", 1400, 1500, 0, 1, Up, false, "MOS"},
      {"pipal", 1500, 2000, 0, 1, Up, true, "(s - 868.3) / (1857 - 868.3)"},
  };
  return registry;
}

const DatasetInfo& dataset_info(const std::string& name) {
  std::string known;
  for (const DatasetInfo& d : dataset_registry()) {
    if (d.name == name) return d;
    known += (known.empty() ? "" : ", ") + d.name;
  }
  fail(cat("unknown dataset '", name, "' (known: ", known, ")"));
}

const DatasetInfo* dataset_for_domain(int domain_id) {
  for (const DatasetInfo& d : dataset_registry())
    if (d.domain_base <= domain_id && domain_id < d.domain_end) return &d;
  return nullptr;
}

DatasetSummary summarize_dataset(const DatasetList& list) {
  DatasetSummary s;
  s.count = int64_t(list.entries.size());
  if (list.entries.empty()) return s;
  std::map<int, DomainSummary> domains;
  double sum = 0;
  s.score_min = s.score_max = list.entries[0].score;
  for (const DatasetEntry& e : list.entries) {
    s.score_min = std::min(s.score_min, e.score);
    s.score_max = std::max(s.score_max, e.score);
    sum += e.score;
    auto [it, inserted] = domains.try_emplace(e.domain_id);
    DomainSummary& d = it->second;
    if (inserted) {
      d.domain_id = e.domain_id;
      auto named = list.domain_names.find(e.domain_id);
      d.name = named != list.domain_names.end() ? named->second : e.scene;
      d.score_min = d.score_max = e.score;
    }
    ++d.count;
    d.score_min = std::min(d.score_min, e.score);
    d.score_max = std::max(d.score_max, e.score);
    const DatasetInfo* info = dataset_for_domain(e.domain_id);
    if (info && (e.score < info->score_min || e.score > info->score_max)) ++s.outside_nominal_range;
  }
  s.score_mean = sum / double(s.count);
  for (auto& [id, d] : domains) s.domains.push_back(d);
  return s;
}

std::string format_summary(const DatasetSummary& s) {
  std::string out = cat(s.count, " images in ", s.domains.size(), " domains; scores ", s.score_min, " .. ",
                        s.score_max, " (mean ", s.score_mean, ")\n");
  for (const DomainSummary& d : s.domains) {
    const DatasetInfo* info = dataset_for_domain(d.domain_id);
    out += cat("  domain ", d.domain_id, " (", info ? info->name : "?", d.name.empty() ? "" : " " + d.name, "): ",
               d.count, " images, scores ", d.score_min, " .. ", d.score_max, "\n");
  }
  if (s.outside_nominal_range > 0)
    out += cat("  note: ", s.outside_nominal_range, " scores lie outside their dataset's nominal scale\n");
  return out;
}

DatasetSummary validate_dataset(const DatasetList& list, const std::string& data_root, const std::string& name,
                                const DecodeOptions& opts, int threads) {
  const size_t n = list.entries.size();
  IQA_CHECK(n > 0, name, ": the listing has no images");
  // One slot per entry so the report lists problems in entry order whatever the thread timing.
  std::vector<std::string> problems(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) {
      const DatasetEntry& e = list.entries[i];
      const std::string path = resolve_image_path(data_root, e.image);
      if (!std::isfinite(e.score)) {
        problems[i] = cat("files[", i, "] ", e.image, ": score is not finite");
        continue;
      }
      std::error_code ec;
      if (!std::filesystem::is_regular_file(path, ec)) {
        problems[i] = cat("files[", i, "] ", path, ": no such file");
        continue;
      }
      try {
        probe_image(path, opts);
      } catch (const std::exception& ex) {
        problems[i] = cat("files[", i, "] ", ex.what());
      }
    }
  };
  int t = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
  t = int(std::min<size_t>(size_t(t), n));
  std::vector<std::thread> pool;
  for (int k = 1; k < t; ++k) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();

  std::string report;
  size_t bad = 0;
  for (const std::string& p : problems)
    if (!p.empty()) report += "\n  " + p, ++bad;
  IQA_CHECK(bad == 0, name, ": ", bad, " of ", n, " listed images are unusable (data root '", data_root, "'):",
            report);
  return summarize_dataset(list);
}

}  // namespace iqa
