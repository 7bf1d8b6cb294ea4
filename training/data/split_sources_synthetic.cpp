// make-splits' readers for the synthetic datasets (distorted copies of pristine references): KADID-10k,
// CSIQ, LIVE, TID2013, PIPAL. Formats and domain numbering: the table in splits.h, which follows the
// reference's committed data_json.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "training/data/source_readers.h"
#include "training/data/xlsx_reader.h"
#include "training/distort/distort.h"

namespace iqa::source {
namespace {

// CSIQ's six folders in the reference's numbering (alphabetical: 800 awgn .. 805 jpeg2000), with the
// type tag inside the file names and the names of csiq.DMOS.xlsx's dst_type column.
struct CsiqType {
  const char* folder;
  const char* tag;
  const char* sheet;
};
constexpr CsiqType kCsiqTypes[6] = {{"awgn", "AWGN", "noise"},     {"blur", "BLUR", "blur"},
                                    {"contrast", "contrast", "contrast"}, {"fnoise", "fnoise", "f noise"},
                                    {"jpeg", "JPEG", "jpeg"},      {"jpeg2000", "jpeg2000", "jpeg 2000"}};

int csiq_type(const std::string& name) {
  const std::string v = lower(name);
  for (int i = 0; i < 6; ++i)
    if (v == kCsiqTypes[i].folder || v == kCsiqTypes[i].sheet || v == lower(kCsiqTypes[i].tag)) return i;
  return -1;
}

void add_csiq(SourceData& s, const std::string& prefix, int k, const std::string& file, double dmos,
              const std::string& content) {
  s.list.entries.push_back({prefix + kCsiqTypes[k].folder + "/" + file, dmos, 800 + k, "", kCsiqTypes[k].folder,
                            content});
}

// hyperIQA's csiq_label.txt, which the reference reads: "<content>.<TAG>.<level>.png <dmos>" per line.
SourceData load_csiq_labels(const std::string& path, const std::string& prefix) {
  const std::vector<std::string> lines = split_lines(read_text(path));
  SourceData s{"csiq", {}, {}};
  for (size_t i = 0; i < lines.size(); ++i) {
    char name[256] = {0};
    double dmos = 0;
    const bool two = std::sscanf(lines[i].c_str(), "%255s %lf", name, &dmos) == 2;
    const std::string n = name;
    const size_t dot1 = n.find('.'), dot2 = n.find('.', dot1 + 1);
    const int k = two && dot2 != std::string::npos ? csiq_type(n.substr(dot1 + 1, dot2 - dot1 - 1)) : -1;
    IQA_CHECK(k >= 0 && std::isfinite(dmos), path, ": line ", i + 1, ": '", lines[i],
              "' is not '<content>.<AWGN|BLUR|contrast|fnoise|JPEG|jpeg2000>.<level>.png <dmos>'");
    add_csiq(s, prefix, k, n, dmos, n.substr(0, dot1) + n.substr(n.rfind('.')));
  }
  return s;
}

}  // namespace

SourceData load_kadid(const SourceFiles& f) {
  const std::string prefix = prefix_of("kadid10k", f);
  CsvTable t = read_csv(single_scores_file("kadid10k", f));
  const size_t dist = t.column({"dist_img"}), ref = t.column({"ref_img"}), dmos = t.column({"dmos"});
  SourceData s{"kadid10k", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string& name = t.rows[r][dist];  // I01_07_03.png: reference 01, type 07, level 03
    int type = 0;
    IQA_CHECK(name.size() >= 7 && std::sscanf(name.c_str() + 4, "%2d", &type) == 1 && type >= 1 && type <= 25, t.name,
              ":", t.row_lines[r], ": '", name, "' is not a KADID name IXX_TT_LL.png");
    s.list.entries.push_back({prefix + name, number_at(t, r, dmos), 600 + type, "", name.substr(4, 2), t.rows[r][ref]});
    s.list.domain_names[600 + type] = distortion_name(type);
  }
  return s;
}

SourceData load_csiq(const SourceFiles& f) {
  const std::string prefix = prefix_of("csiq", f);
  const std::string& path = single_scores_file("csiq", f);
  SourceData s;
  if (lower(path).size() > 4 && lower(path).substr(path.size() - 4) == ".txt") {
    s = load_csiq_labels(path, prefix);
  } else {
    // csiq.DMOS.xlsx as CSIQ ships it (its 'all_by_image' sheet: image, dst_idx, dst_type, dst_lev,
    // dmos_std, dmos, right of an empty first column), or a CSV export of that sheet.
    CsvTable t = read_score_table(path, {"all_by_image"});
    const size_t img = t.column({"image"}), type = t.column({"dst_type"}), lev = t.column({"dst_lev"});
    const size_t dmos = t.column({"dmos"});
    s = SourceData{"csiq", {}, {}};
    for (size_t r = 0; r < t.rows.size(); ++r) {
      const int k = csiq_type(t.rows[r][type]);
      IQA_CHECK(k >= 0, t.name, ":", t.row_lines[r], ": unknown CSIQ distortion '", t.rows[r][type], "'");
      const std::string file = cat(t.rows[r][img], ".", kCsiqTypes[k].tag, ".", integer_at(t, r, lev, 1, 5), ".png");
      add_csiq(s, prefix, k, file, number_at(t, r, dmos), t.rows[r][img] + ".png");
    }
  }
  for (int i = 0; i < 6; ++i) s.list.domain_names[800 + i] = kCsiqTypes[i].folder;
  return s;
}

SourceData load_live(const SourceFiles& f) {
  static const std::vector<std::string> folders = {"jp2k", "jpeg", "wn", "gblur", "fastfading"};
  const std::string prefix = prefix_of("live", f);
  CsvTable t = mat_sources(f) ? live_table(f) : read_csv(single_scores_file("live", f));
  const size_t img = t.column({"image"}), ref = t.column({"reference", "refname"});
  const size_t dmos = t.column({"dmos", "dmos_realigned", "dmos_new"});
  SourceData s{"live", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string& name = t.rows[r][img];
    const std::string folder = name.substr(0, name.find('/'));
    auto it = std::find(folders.begin(), folders.end(), folder);
    IQA_CHECK(name.find('/') != std::string::npos && it != folders.end(), t.name, ":", t.row_lines[r], ": '", name,
              "' is not <jp2k|jpeg|wn|gblur|fastfading>/<file>");
    const int k = int(it - folders.begin());  // the reference's 700 jp2k .. 704 fastfading
    s.list.entries.push_back({prefix + name, number_at(t, r, dmos), 700 + k, "", folder, t.rows[r][ref]});
  }
  name_domains(s.list, 700, folders);
  return s;
}

SourceData load_tid2013(const SourceFiles& f) {
  const std::string prefix = prefix_of("tid2013", f);
  const std::string& path = single_scores_file("tid2013", f);
  const std::vector<std::string> lines = split_lines(read_text(path));
  SourceData s{"tid2013", {}, {}};
  for (size_t i = 0; i < lines.size(); ++i) {
    char name[256] = {0};
    double mos = 0;
    int ref = 0, type = 0;
    const bool ok = std::sscanf(lines[i].c_str(), "%lf %255s", &mos, name) == 2 && std::isfinite(mos) &&
                    (name[0] == 'i' || name[0] == 'I') && std::sscanf(name + 1, "%2d_%2d", &ref, &type) == 2 &&
                    ref >= 1 && ref <= 25;
    IQA_CHECK(ok, path, ": line ", i + 1, ": '", lines[i], "' is not '<mos> iXX_TT_L.bmp'");
    // Domain = reference content, as the reference (its "dist_dype" field holds the content number).
    s.list.entries.push_back({prefix + name, mos, 900 + ref, "", std::string(name).substr(4, 2),
                              std::string(name).substr(0, 3)});
    s.list.domain_names[900 + ref] = std::to_string(ref);
  }
  return s;
}

namespace {

// The reference number of a PIPAL image name "A<digits>_...", or -1. from_chars rather than sscanf's
// %d, whose behaviour past int's range is undefined (glibc truncates: A4294967301_ would read as 5).
int pipal_reference(const std::string& name) {
  if (name.size() < 3 || name[0] != 'A') return -1;
  int ref = -1;
  const char* end = name.data() + name.size();
  const auto [stop, ec] = std::from_chars(name.data() + 1, end, ref);
  return ec == std::errc() && stop != end && *stop == '_' ? ref : -1;
}

}  // namespace

// PIPAL as distributed: <root>/training/Train_Label/<ref>.txt ("<image>,<score>" lines) with the images
// spread over training/Distortion_*/, and validation/val_label.txt with the images in validation/Dis/.
// As the reference: training scores are normalised to (s - 868.2988) / (1857 - 868.2988), validation
// scores are kept raw (only ranks matter when testing), domain = 1500 + the reference number (A0149 ->
// 1649), official split = training / validation.
SourceData load_pipal(const SourceFiles& f) {
  namespace fs = std::filesystem;
  const fs::path root = single_scores_file("pipal", f);
  const std::string prefix = prefix_of("pipal", f);
  IQA_CHECK(fs::is_directory(root / "training" / "Train_Label"), "pipal: --scores must be the PIPAL folder holding ",
            "training/Train_Label/ (and validation/val_label.txt); ", (root / "training/Train_Label").string(),
            " is not a folder");
  std::map<std::string, std::string> folder_of;  // image file name -> its Distortion_* folder
  std::vector<fs::path> label_files;
  for (const auto& e : fs::directory_iterator(root / "training")) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("Distortion_", 0) == 0)
      for (const auto& img : fs::directory_iterator(e.path())) folder_of[img.path().filename().string()] = n;
  }
  for (const auto& e : fs::directory_iterator(root / "training" / "Train_Label"))
    if (e.path().extension() == ".txt") label_files.push_back(e.path());
  std::sort(label_files.begin(), label_files.end());
  SourceData s{"pipal", {}, {}};
  auto read_labels = [&](const fs::path& file, bool train) {
    const std::vector<std::string> lines = split_lines(read_text(file.string()));
    for (size_t i = 0; i < lines.size(); ++i) {
      const size_t comma = lines[i].find(',');
      const std::string name = lines[i].substr(0, comma);
      double score = NAN;
      const int ref = pipal_reference(name);
      const bool ok = comma != std::string::npos && std::sscanf(lines[i].c_str() + comma + 1, "%lf", &score) == 1 &&
                      std::isfinite(score) && ref >= 0 && ref < 500;
      IQA_CHECK(ok, file.string(), ": line ", i + 1, ": '", lines[i], "' is not 'A<ref>_<..>.bmp,<score>'");
      std::string image = prefix + "validation/Dis/" + name;
      if (train) {
        auto it = folder_of.find(name);
        IQA_CHECK(it != folder_of.end(), file.string(), ": line ", i + 1, ": ", name, " is in no ",
                  (root / "training").string(), "/Distortion_*/ folder");
        image = prefix + "training/" + it->second + "/" + name;
        score = (score - 868.2988) / (1857 - 868.2988);
      }
      s.list.entries.push_back({image, score, 1500 + ref, "", "", name.substr(0, 5)});
      s.official_split.push_back(train ? "train" : "test");
    }
  };
  for (const fs::path& file : label_files) read_labels(file, true);
  if (fs::exists(root / "validation" / "val_label.txt")) read_labels(root / "validation" / "val_label.txt", false);
  return s;
}

}  // namespace iqa::source
