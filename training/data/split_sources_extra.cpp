// make-splits' readers for the sets the reference lists beyond its protocols' training sets: AVA, NNID,
// PIQ23, AGIQA-3K (formats: the table in splits.h; numbering: the reference's data_json generator).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

#include "training/data/source_readers.h"

namespace iqa::source {

// AVA.txt: "<index> <image id> <10 vote counts for 1..10> <tag> <tag> <challenge>" per line. Score =
// mean vote, domain 1300. The reference also drops the images PIL cannot open; --validate reports those.
SourceData load_ava(const SourceFiles& f) {
  const std::string& path = single_scores_file("ava", f);
  const std::string prefix = prefix_of("ava", f);
  const std::vector<std::string> lines = split_lines(read_text(path));
  SourceData s{"ava", {}, {}};
  for (size_t i = 0; i < lines.size(); ++i) {
    long long index = 0;
    char id[64] = {0};
    double votes[10] = {0};
    const int got = std::sscanf(lines[i].c_str(), "%lld %63s %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &index, id,
                                &votes[0], &votes[1], &votes[2], &votes[3], &votes[4], &votes[5], &votes[6], &votes[7],
                                &votes[8], &votes[9]);
    double n = 0, sum = 0;
    bool counts = true;  // %lf also reads "nan", "inf" and negative numbers
    for (int k = 0; k < 10; ++k) {
      counts = counts && std::isfinite(votes[k]) && votes[k] >= 0;
      n += votes[k], sum += votes[k] * (k + 1);
    }
    IQA_CHECK(got == 12 && counts && n > 0, path, ": line ", i + 1, ": '", lines[i],
              "' is not '<index> <image id> <10 vote counts> ...' with at least one vote");
    s.list.entries.push_back({prefix + id + ".jpg", sum / n, 1300});
  }
  return s;
}

// NNID's mos512_with_names.txt, mos1024_with_names.txt and mos2048_with_names.txt ("<mos> <name>"
// lines), in any order: domain 1400 / 1401 / 1402 by resolution, images in sub512/, sub1024/, Sub2048/.
SourceData load_nnid(const SourceFiles& f) {
  static const char* const sizes[3] = {"512", "1024", "2048"};
  static const char* const folders[3] = {"sub512", "sub1024", "Sub2048"};
  const std::string prefix = prefix_of("nnid", f);
  std::vector<std::string> by_size(3);
  for (const std::string& path : f.scores) {
    int k = -1;
    for (int j = 0; j < 3; ++j)
      if (basename_of(path).find(cat("mos", sizes[j])) != std::string::npos) k = j;
    IQA_CHECK(k >= 0, path, ": an NNID score file is named mos512_with_names.txt, mos1024_with_names.txt or ",
              "mos2048_with_names.txt");
    IQA_CHECK(by_size[size_t(k)].empty(), "nnid: two --scores files for size ", sizes[k]);
    by_size[size_t(k)] = path;
  }
  SourceData s{"nnid", {}, {}};
  for (int k = 0; k < 3; ++k) {
    if (by_size[size_t(k)].empty()) continue;
    const std::vector<std::string> lines = split_lines(read_text(by_size[size_t(k)]));
    for (size_t i = 0; i < lines.size(); ++i) {
      char name[256] = {0};
      double mos = NAN;
      IQA_CHECK(std::sscanf(lines[i].c_str(), "%lf %255s", &mos, name) == 2 && std::isfinite(mos), by_size[size_t(k)],
                ": line ", i + 1, ": '", lines[i], "' is not '<mos> <image name>'");
      s.list.entries.push_back({prefix + folders[k] + "/" + name, mos, 1400 + k});
    }
  }
  return s;
}

// PIQ23's Scores_Overall.csv: IMAGE PATH (Windows separators), JOD, SCENE ("Indoor_Scene_0"):
// domain = the scene's trailing number.
SourceData load_piq23(const SourceFiles& f) {
  CsvTable t = read_csv(single_scores_file("piq23", f));
  const size_t img = t.column({"IMAGE PATH"}), jod = t.column({"JOD"}), scene = t.column({"SCENE"});
  const std::string prefix = prefix_of("piq23", f);
  SourceData s{"piq23", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    std::string path = t.rows[r][img];
    std::replace(path.begin(), path.end(), '\\', '/');
    const std::string& name = t.rows[r][scene];
    const size_t us = name.find_last_of('_');
    int id = -1;
    if (us != std::string::npos) {  // from_chars, not stoi: a long digit run is out of int's range
      const auto [end, ec] = std::from_chars(name.data() + us + 1, name.data() + name.size(), id);
      if (ec != std::errc() || end != name.data() + name.size()) id = -1;
    }
    IQA_CHECK(id >= 0 && id < 100, t.name, ":", t.row_lines[r], ": scene '", name, "' does not end in _<0..99>");
    s.list.entries.push_back({prefix + path, number_at(t, r, jod), id, name});
    s.list.domain_names[id] = name;
  }
  return s;
}

// AGIQA-3K's data.csv: name, mos_quality, style (empty -> "other"). Domain = 500 + the style's rank in
// alphabetical order; the style is kept as the entry's scene label.
SourceData load_agiqa3k(const SourceFiles& f) {
  CsvTable t = read_csv(single_scores_file("agiqa3k", f));
  const size_t img = t.column({"name"}), mos = t.column({"mos_quality"}), style_col = t.column({"style"});
  const std::string prefix = prefix_of("agiqa3k", f);
  std::set<std::string> styles;
  auto style_of = [&](size_t r) { return t.rows[r][style_col].empty() ? std::string("other") : t.rows[r][style_col]; };
  for (size_t r = 0; r < t.rows.size(); ++r) styles.insert(style_of(r));
  const std::vector<std::string> names(styles.begin(), styles.end());
  SourceData s{"agiqa3k", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const int k = int(std::lower_bound(names.begin(), names.end(), style_of(r)) - names.begin());
    s.list.entries.push_back({prefix + t.rows[r][img], number_at(t, r, mos), 500 + k, style_of(r)});
  }
  name_domains(s.list, 500, names);
  return s;
}

}  // namespace iqa::source
