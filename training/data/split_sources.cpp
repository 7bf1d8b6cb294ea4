// Dataset score-file readers for make-splits (formats: the table in splits.h).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "training/data/csv.h"
#include "training/distort/distort.h"
#include "training/data/scene_sampler.h"
#include "training/data/splits.h"

namespace iqa {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

double number_at(const CsvTable& t, size_t row, size_t col) {
  const std::string& v = t.rows[row][col];
  size_t used = 0;
  double d = NAN;
  try {
    d = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  IQA_CHECK(used == v.size() && !v.empty() && std::isfinite(d), t.name, ":", t.row_lines[row], ": column '",
            t.header[col], "': '", v, "' is not a number");
  return d;
}

std::string basename_of(const std::string& p) {
  size_t s = p.find_last_of("/\\");
  return s == std::string::npos ? p : p.substr(s + 1);
}

const std::string& single_scores_file(const std::string& dataset, const SourceFiles& f) {
  IQA_CHECK(f.scores.size() == 1, dataset, ": expected exactly one --scores file, got ", f.scores.size());
  return f.scores[0];
}

// Index of a SPAQ scene name, accepting short forms ("Indoor", "Night", "Still life"); -1 if none.
int spaq_scene_index(const std::string& name) {
  std::string n = lower(name);
  n.erase(std::remove_if(n.begin(), n.end(), [](char c) { return c == ' ' || c == '-' || c == '_'; }), n.end());
  const std::vector<std::string>& names = spaq_scene_names();
  for (size_t i = 0; i < names.size(); ++i) {
    std::string k = lower(names[i]);
    k.erase(std::remove_if(k.begin(), k.end(), [](char c) { return c == ' ' || c == '-'; }), k.end());
    if (n == k || (k.size() > 5 && k.substr(k.size() - 5) == "scene" && n == k.substr(0, k.size() - 5))) return int(i);
  }
  return -1;
}

// Optional CLIP-style labels "image, scene" -> image file name -> SPAQ scene index.
std::map<std::string, int> read_scene_labels(const std::string& path) {
  std::map<std::string, int> out;
  if (path.empty()) return out;
  CsvTable t = read_csv(path);
  const size_t img = t.column({"image", "image_name", "image name", "name"});
  const size_t scene = t.column({"scene", "label", "category"});
  for (size_t r = 0; r < t.rows.size(); ++r) {
    int idx = spaq_scene_index(t.rows[r][scene]);
    IQA_CHECK(idx >= 0, t.name, ":", t.row_lines[r], ": '", t.rows[r][scene], "' is not one of the nine SPAQ scenes");
    out[basename_of(t.rows[r][img])] = idx;
  }
  return out;
}

void name_domains(DatasetList& list, int base, const std::vector<std::string>& names) {
  for (const DatasetEntry& e : list.entries)
    if (e.domain_id >= base && e.domain_id - base < int(names.size()))
      list.domain_names[e.domain_id] = names[size_t(e.domain_id - base)];
}

// image,mos sheets (LIVEC, BID, CID2013), with optional CLIP scene labels.
SourceData load_image_mos(const std::string& dataset, const SourceFiles& f, const std::string& prefix) {
  const int base = dataset_info(dataset).domain_base;
  CsvTable t = read_csv(single_scores_file(dataset, f));
  const size_t img = t.column({"image", "image_name", "image name", "name"});
  const size_t mos = t.column({"mos", "realigned mos", "realigned_mos", "score"});
  const std::map<std::string, int> scenes = read_scene_labels(f.scenes);
  SourceData s{dataset, {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    DatasetEntry e{prefix + t.rows[r][img], number_at(t, r, mos), base};
    if (!scenes.empty()) {
      auto it = scenes.find(basename_of(t.rows[r][img]));
      IQA_CHECK(it != scenes.end(), f.scenes, ": no scene label for ", t.rows[r][img]);
      e.domain_id = base + it->second;
      e.scene = spaq_scene_names()[size_t(it->second)];
    }
    s.list.entries.push_back(e);
  }
  if (!scenes.empty()) name_domains(s.list, base, spaq_scene_names());
  return s;
}

SourceData load_koniq(const SourceFiles& f) {
  SourceFiles one{{single_scores_file("koniq10k", f)}, f.scenes};
  CsvTable t = read_csv(one.scores[0]);
  const size_t img = t.column({"image_name"});
  const size_t z = t.column({"MOS_zscore"});
  const long set = t.find_column({"set"});
  const std::map<std::string, int> scenes = read_scene_labels(f.scenes);
  SourceData s{"koniq10k", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    DatasetEntry e{"koniq10k/1024x768/" + t.rows[r][img], number_at(t, r, z), 300};
    if (!scenes.empty()) {
      auto it = scenes.find(t.rows[r][img]);
      IQA_CHECK(it != scenes.end(), f.scenes, ": no scene label for ", t.rows[r][img]);
      e.domain_id = 300 + it->second;
      e.scene = spaq_scene_names()[size_t(it->second)];
    }
    s.list.entries.push_back(e);
    if (set >= 0) {
      const std::string v = lower(t.rows[r][size_t(set)]);
      IQA_CHECK(v == "training" || v == "validation" || v == "test", t.name, ":", t.row_lines[r], ": set '",
                t.rows[r][size_t(set)], "' is not training, validation or test");
      s.official_split.push_back(v == "test" ? "test" : "train");
    }
  }
  if (!scenes.empty()) name_domains(s.list, 300, spaq_scene_names());
  return s;
}

SourceData load_spaq(const SourceFiles& f, uint64_t seed) {
  IQA_CHECK(!f.scenes.empty(), "spaq: --scenes (the scene category labels sheet as CSV) is required");
  CsvTable scores = read_csv(single_scores_file("spaq", f));
  const size_t img = scores.column({"Image name", "image_name", "image"});
  const size_t mos = scores.column({"MOS"});
  CsvTable labels = read_csv(f.scenes);
  const size_t limg = labels.column({"Image name", "image_name", "image"});
  // Either one 0/1 column per scene or one column listing the scenes.
  std::vector<long> flag_cols(spaq_scene_names().size(), -1);
  bool any_flag = false;
  for (size_t c = 0; c < labels.header.size(); ++c) {
    int k = spaq_scene_index(labels.header[c]);
    if (k >= 0) flag_cols[size_t(k)] = long(c), any_flag = true;
  }
  const long list_col = any_flag ? -1 : long(labels.column({"Scene category", "scene", "category", "scenes"}));
  std::map<std::string, std::vector<int>> candidates;
  for (size_t r = 0; r < labels.rows.size(); ++r) {
    std::vector<int> c;
    if (any_flag) {
      for (size_t k = 0; k < flag_cols.size(); ++k)
        if (flag_cols[k] >= 0 && number_at(labels, r, size_t(flag_cols[k])) != 0) c.push_back(int(k));
    } else {
      std::string v = labels.rows[r][size_t(list_col)];
      for (char& ch : v)
        if (ch == ',' || ch == ';' || ch == '|' || ch == '/') ch = '\n';
      for (const std::string& tok : split_lines(v)) {
        int k = -1;
        if (std::all_of(tok.begin(), tok.end(), [](unsigned char ch) { return std::isdigit(ch); }))
          k = std::stoi(tok) - 1;
        else
          k = spaq_scene_index(tok);
        IQA_CHECK(k >= 0 && k < 9, labels.name, ":", labels.row_lines[r], ": unknown scene '", tok, "'");
        c.push_back(k);
      }
    }
    IQA_CHECK(!c.empty(), labels.name, ":", labels.row_lines[r], ": image ", labels.rows[r][limg], " has no scene");
    candidates[labels.rows[r][limg]] = c;
  }
  SeededIndexRandom rng(seed, 0);
  SourceData s{"spaq", {}, {}};
  for (size_t r = 0; r < scores.rows.size(); ++r) {
    const std::string& name = scores.rows[r][img];
    auto it = candidates.find(name);
    IQA_CHECK(it != candidates.end(), labels.name, ": no scene labels for ", name, " (listed in ", scores.name, ")");
    const std::vector<int>& c = it->second;
    const int k = c.size() == 1 ? c[0] : c[size_t(rng.below(c.size()))];  // drawn once, in score-file order
    s.list.entries.push_back({"SPAQ/TestImage/" + name, number_at(scores, r, mos), 100 + k, spaq_scene_names()[size_t(k)]});
  }
  name_domains(s.list, 100, spaq_scene_names());
  return s;
}

SourceData load_kadid(const SourceFiles& f) {
  CsvTable t = read_csv(single_scores_file("kadid10k", f));
  const size_t dist = t.column({"dist_img"}), ref = t.column({"ref_img"}), dmos = t.column({"dmos"});
  SourceData s{"kadid10k", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string& name = t.rows[r][dist];  // I01_07_03.png: reference 01, type 07, level 03
    int type = 0;
    IQA_CHECK(name.size() >= 7 && std::sscanf(name.c_str() + 4, "%2d", &type) == 1 && type >= 1 && type <= 25, t.name,
              ":", t.row_lines[r], ": '", name, "' is not a KADID name IXX_TT_LL.png");
    s.list.entries.push_back({"kadid10k/images/" + name, number_at(t, r, dmos), 600 + type, "", name.substr(4, 2),
                              t.rows[r][ref]});
    s.list.domain_names[600 + type] = distortion_name(type);
  }
  return s;
}

SourceData load_csiq(const SourceFiles& f) {
  struct Type { const char* sheet; const char* folder; const char* tag; };
  static const Type types[6] = {{"noise", "awgn", "AWGN"},         {"jpeg", "jpeg", "JPEG"},
                                {"jpeg 2000", "jpeg2000", "jpeg2000"}, {"f noise", "fnoise", "fnoise"},
                                {"blur", "blur", "BLUR"},           {"contrast", "contrast", "contrast"}};
  CsvTable t = read_csv(single_scores_file("csiq", f));
  const size_t img = t.column({"image"}), type = t.column({"dst_type"}), lev = t.column({"dst_lev"});
  const size_t dmos = t.column({"dmos"});
  SourceData s{"csiq", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string v = lower(t.rows[r][type]);
    int k = -1;
    for (int i = 0; i < 6; ++i)
      if (v == types[i].sheet || v == lower(types[i].folder) || v == lower(types[i].tag)) k = i;
    IQA_CHECK(k >= 0, t.name, ":", t.row_lines[r], ": unknown CSIQ distortion '", t.rows[r][type], "'");
    const int level = int(number_at(t, r, lev));
    const std::string path = cat("CSIQ/dst_imgs/", types[k].folder, "/", t.rows[r][img], ".", types[k].tag, ".",
                                 level, ".png");
    s.list.entries.push_back({path, number_at(t, r, dmos), 801 + k, "", types[k].folder, t.rows[r][img]});
  }
  for (int i = 0; i < 6; ++i) s.list.domain_names[801 + i] = types[i].folder;
  return s;
}

SourceData load_live(const SourceFiles& f) {
  static const std::vector<std::string> folders = {"jp2k", "jpeg", "wn", "gblur", "fastfading"};
  CsvTable t = read_csv(single_scores_file("live", f));
  const size_t img = t.column({"image"}), ref = t.column({"reference", "refname"});
  const size_t dmos = t.column({"dmos", "dmos_realigned"});
  SourceData s{"live", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string& name = t.rows[r][img];
    const std::string folder = name.substr(0, name.find('/'));
    auto it = std::find(folders.begin(), folders.end(), folder);
    IQA_CHECK(name.find('/') != std::string::npos && it != folders.end(), t.name, ":", t.row_lines[r], ": '", name,
              "' is not <jp2k|jpeg|wn|gblur|fastfading>/<file>");
    const int k = int(it - folders.begin());
    s.list.entries.push_back({"LIVE/" + name, number_at(t, r, dmos), 701 + k, "", folder, t.rows[r][ref]});
  }
  for (size_t i = 0; i < folders.size(); ++i) s.list.domain_names[701 + int(i)] = folders[i];
  return s;
}

SourceData load_tid2013(const SourceFiles& f) {
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
    s.list.entries.push_back({cat("tid2013/distorted_images/", name), mos, 900 + ref, "",
                              std::string(name).substr(4, 2), std::string(name).substr(0, 3)});
  }
  return s;
}

SourceData load_eva(const SourceFiles& f) {
  static const std::vector<std::string> categories = {"animals", "architectures & city", "human",
                                                      "natural & rural", "still life", "other"};
  IQA_CHECK(!f.scenes.empty(), "eva: --scenes (image_content_category.csv) is required");
  CsvTable votes = read_csv(single_scores_file("eva", f));
  const size_t id = votes.column({"image_id"}), score = votes.column({"score"});
  std::vector<std::string> order;  // first appearance
  std::map<std::string, std::pair<double, int>> sums;
  for (size_t r = 0; r < votes.rows.size(); ++r) {
    auto [it, inserted] = sums.try_emplace(votes.rows[r][id], 0.0, 0);
    if (inserted) order.push_back(votes.rows[r][id]);
    it->second.first += number_at(votes, r, score);
    it->second.second += 1;
  }
  CsvTable cats = read_csv(f.scenes);
  const size_t cid = cats.column({"image_id"}), cat_col = cats.column({"category_id", "category", "content"});
  std::map<std::string, int> category;
  for (size_t r = 0; r < cats.rows.size(); ++r) {
    const int c = int(number_at(cats, r, cat_col));
    IQA_CHECK(c >= 1 && c <= 6, cats.name, ":", cats.row_lines[r], ": category ", c, " outside 1..6");
    category[cats.rows[r][cid]] = c;
  }
  SourceData s{"eva", {}, {}};
  for (const std::string& image : order) {
    auto it = category.find(image);
    IQA_CHECK(it != category.end(), cats.name, ": no category for EVA image ", image);
    const auto& [sum, n] = sums[image];
    s.list.entries.push_back({"EVA/images/EVA_category/EVA_together/" + image + ".jpg", sum / n, 1100 + it->second,
                              categories[size_t(it->second - 1)]});
  }
  name_domains(s.list, 1101, categories);
  return s;
}

SourceData load_para(const SourceFiles& f) {
  IQA_CHECK(!f.scores.empty(), "para: expected --scores PARA-GiaaTrain.csv [PARA-GiaaTest.csv]");
  struct Row { std::string image, semantic, split; double score; };
  std::vector<Row> rows;
  for (const std::string& path : f.scores) {
    CsvTable t = read_csv(path);
    const size_t session = t.column({"sessionId"}), image = t.column({"imageName"});
    const size_t score = t.column({"aestheticScore_mean"}), semantic = t.column({"semantic"});
    const bool test = lower(basename_of(path)).find("test") != std::string::npos;
    for (size_t r = 0; r < t.rows.size(); ++r)
      rows.push_back({"PARA/imgs/" + t.rows[r][session] + "/" + t.rows[r][image], t.rows[r][semantic],
                      test ? "test" : "train", number_at(t, r, score)});
  }
  std::set<std::string> semantics;
  for (const Row& r : rows) semantics.insert(r.semantic);
  const std::vector<std::string> names(semantics.begin(), semantics.end());  // byte order = alphabetical
  SourceData s{"para", {}, {}};
  for (const Row& r : rows) {
    const int k = int(std::lower_bound(names.begin(), names.end(), r.semantic) - names.begin());
    s.list.entries.push_back({r.image, r.score, 1200 + k, r.semantic});
    s.official_split.push_back(r.split);
  }
  name_domains(s.list, 1200, names);
  return s;
}

}  // namespace

const std::vector<std::string>& spaq_scene_names() {
  static const std::vector<std::string> names = {"Animal",    "Cityscape",   "Human", "Indoor scene", "Landscape",
                                                 "Night scene", "Plant", "Still-life", "Others"};
  return names;
}

SourceData load_source(const std::string& dataset, const SourceFiles& files, uint64_t seed) {
  dataset_info(dataset);  // unknown names fail with the list of known ones
  SourceData s;
  if (dataset == "koniq10k") s = load_koniq(files);
  else if (dataset == "spaq") s = load_spaq(files, seed);
  else if (dataset == "livec") s = load_image_mos(dataset, files, "LIVEC/Images/");
  else if (dataset == "bid") s = load_image_mos(dataset, files, "BID/ImageDatabase/");
  else if (dataset == "cid2013") s = load_image_mos(dataset, files, "CID2013/");
  else if (dataset == "kadid10k") s = load_kadid(files);
  else if (dataset == "csiq") s = load_csiq(files);
  else if (dataset == "live") s = load_live(files);
  else if (dataset == "tid2013") s = load_tid2013(files);
  else if (dataset == "eva") s = load_eva(files);
  else if (dataset == "para") s = load_para(files);
  else fail(cat(dataset, ": make-splits has no reader for this dataset's score files (readers: koniq10k, spaq, "
                "livec, bid, cid2013, kadid10k, csiq, live, tid2013, eva, para)"));
  IQA_CHECK(!s.list.entries.empty(), dataset, ": the score files list no images");
  return s;
}

}  // namespace iqa
