// Dataset score-file readers for make-splits (formats: the table in splits.h): the shared helpers, the
// authentic sets of the protocols (KonIQ, SPAQ, LIVEC, BID, CID2013, EVA, PARA) and load_source.
#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "training/data/scene_sampler.h"
#include "training/data/source_readers.h"
#include "training/data/xlsx_reader.h"

namespace iqa {
namespace source {

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

int integer_at(const CsvTable& t, size_t row, size_t col, int lo, int hi) {
  const double d = number_at(t, row, col);
  IQA_CHECK(d >= lo && d <= hi && d == std::floor(d), t.name, ":", t.row_lines[row], ": column '", t.header[col],
            "': '", t.rows[row][col], "' is not a whole number in ", lo, "..", hi);
  return int(d);
}

std::string basename_of(const std::string& p) {
  size_t s = p.find_last_of("/\\");
  return s == std::string::npos ? p : p.substr(s + 1);
}

const std::string& single_scores_file(const std::string& dataset, const SourceFiles& f) {
  IQA_CHECK(f.scores.size() == 1, dataset, ": expected exactly one --scores file, got ", f.scores.size());
  return f.scores[0];
}

void name_domains(DatasetList& list, int base, const std::vector<std::string>& names) {
  for (const DatasetEntry& e : list.entries)
    if (e.domain_id >= base && e.domain_id - base < int(names.size()))
      list.domain_names[e.domain_id] = names[size_t(e.domain_id - base)];
}

std::string prefix_of(const std::string& dataset, const SourceFiles& files) {
  if (!files.image_prefix.empty()) {
    const std::string& p = files.image_prefix;
    return p.back() == '/' ? p : p + "/";
  }
  IQA_CHECK(files.path_style == "reference" || files.path_style == "iqa", "unknown path style '", files.path_style,
            "' (reference or iqa)");
  const bool ref = files.path_style == "reference";
  for (const auto& [name, reference, iqa] : image_prefixes())
    if (name == dataset) return ref ? reference : iqa;
  fail(cat(dataset, ": no image folder is known for this dataset"));
}

}  // namespace source

using namespace source;

const std::vector<std::tuple<std::string, std::string, std::string>>& image_prefixes() {
  // {dataset, the reference's committed paths, iqa.cu's earlier make-splits paths}. "{category}" is
  // EVA's content category number (1..6): the reference keeps EVA's per-category folders.
  static const std::vector<std::tuple<std::string, std::string, std::string>> table = {
      {"piq23", "PIQ23/", "PIQ23/"},
      {"spaq", "SPAQ/TestImage/", "SPAQ/TestImage/"},
      {"livec", "LIVEChallenge/Images/", "LIVEC/Images/"},
      {"koniq10k", "koniq10k/1024x768/", "koniq10k/1024x768/"},
      {"bid", "BID/", "BID/ImageDatabase/"},
      {"cid2013", "CID2013/", "CID2013/"},
      {"agiqa3k", "AGIQA-3K/images/", "AGIQA-3K/images/"},
      {"kadid10k", "kadid10k/images/", "kadid10k/images/"},
      {"live", "LIVE/", "LIVE/"},
      {"csiq", "CSIQ/dst_imgs/", "CSIQ/dst_imgs/"},
      {"tid2013", "TID2013/distorted_images/", "tid2013/distorted_images/"},
      {"eva", "EVA/eva-dataset-master/images/EVA_category/EVA_category/{category}/",
       "EVA/images/EVA_category/EVA_together/"},
      {"para", "PARA/imgs/", "PARA/imgs/"},
      {"ava", "AVA/data/image/", "AVA/data/image/"},
      {"nnid", "NNID/", "NNID/"},
      {"pipal", "PIPAL/", "PIPAL/"},
  };
  return table;
}

namespace {

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

// CLIP-style scene label of an image, if labels were given: domain base + SPAQ scene index.
void label_scene(DatasetEntry& e, const std::map<std::string, int>& scenes, const std::string& file,
                 const std::string& image, int base) {
  if (scenes.empty()) return;
  auto it = scenes.find(basename_of(image));
  IQA_CHECK(it != scenes.end(), file, ": no scene label for ", image);
  e.domain_id = base + it->second;
  e.scene = spaq_scene_names()[size_t(it->second)];
}

// image,mos sheets (LIVEC, BID, CID2013), with optional CLIP scene labels. BID's grade sheet numbers its
// images (1 -> DatabaseImage0001.JPG); CID2013's names them without extension (Source_ID -> <id>.jpg).
SourceData load_image_mos(const std::string& dataset, const SourceFiles& f) {
  const int base = dataset_info(dataset).domain_base;
  const std::string prefix = prefix_of(dataset, f);
  CsvTable t = dataset == "livec" && mat_sources(f) ? livec_table(f)
                                                    : read_score_table(single_scores_file(dataset, f), {"CID2013 MOS"});
  const std::vector<std::string> image_names = {"image", "image_name", "image name", "name", "source_id"};
  const std::vector<std::string> mos_names = {"mos", "realigned mos", "realigned_mos", "score"};
  // BID's DatabaseGrades.xlsx: the reference reads its first two columns (image number, grade) whatever
  // their titles say.
  const bool bid_sheet = dataset == "bid" && t.name.find(" [sheet '") != std::string::npos && t.header.size() >= 2 &&
                         t.find_column(image_names) < 0 && t.find_column(mos_names) < 0;
  const size_t img = bid_sheet ? 0 : t.column(image_names);
  const size_t mos = bid_sheet ? 1 : t.column(mos_names);
  const std::map<std::string, int> scenes = read_scene_labels(f.scenes);
  SourceData s{dataset, {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    std::string name = t.rows[r][img];
    const bool numbered = !name.empty() && std::all_of(name.begin(), name.end(), ::isdigit);
    if (dataset == "bid" && numbered)
      name = cat("DatabaseImage", std::string(4 - std::min<size_t>(4, name.size()), '0'), name, ".JPG");
    if (dataset == "cid2013" && name.find('.') == std::string::npos) name += ".jpg";
    DatasetEntry e{prefix + name, number_at(t, r, mos), base};
    label_scene(e, scenes, f.scenes, name, base);
    s.list.entries.push_back(e);
  }
  if (!scenes.empty()) name_domains(s.list, base, spaq_scene_names());
  return s;
}

SourceData load_koniq(const SourceFiles& f) {
  CsvTable t = read_csv(single_scores_file("koniq10k", f));
  const size_t img = t.column({"image_name"});
  const size_t z = t.column({"MOS_zscore"});
  const long set = t.find_column({"set"});
  const std::map<std::string, int> scenes = read_scene_labels(f.scenes);
  const std::string prefix = prefix_of("koniq10k", f);
  SourceData s{"koniq10k", {}, {}};
  for (size_t r = 0; r < t.rows.size(); ++r) {
    DatasetEntry e{prefix + t.rows[r][img], number_at(t, r, z), 300};
    label_scene(e, scenes, f.scenes, t.rows[r][img], 300);
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

// SPAQ's scene sheet: either one 0/1 column per scene or one column listing them. Image -> candidates.
std::map<std::string, std::vector<int>> spaq_scene_candidates(const std::string& path) {
  CsvTable labels = read_score_table(path);
  const size_t limg = labels.column({"Image name", "image_name", "image"});
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
        if (flag_cols[k] >= 0 && number_at(labels, r, size_t(flag_cols[k])) > 0) c.push_back(int(k));
    } else {
      std::string v = labels.rows[r][size_t(list_col)];
      for (char& ch : v)
        if (ch == ',' || ch == ';' || ch == '|' || ch == '/') ch = '\n';
      for (const std::string& tok : split_lines(v)) {
        // A scene by number (1..9) or by name; from_chars, not stoi: a long digit run is out of int's range.
        int number = 0;
        const auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), number);
        const bool is_number = ec == std::errc() && end == tok.data() + tok.size();
        const int k = is_number ? number - 1 : spaq_scene_index(tok);
        IQA_CHECK(k >= 0 && k < 9, labels.name, ":", labels.row_lines[r], ": unknown scene '", tok, "'");
        c.push_back(k);
      }
    }
    IQA_CHECK(!c.empty(), labels.name, ":", labels.row_lines[r], ": image ", labels.rows[r][limg], " has no scene");
    candidates[labels.rows[r][limg]] = c;
  }
  return candidates;
}

// Multi-label SPAQ images get one scene. The reference draws it with Python's unseeded random.choice,
// so its committed spaq_all.json is the canonical choice: f.scene_choice (that listing, or any data_json
// naming SPAQ/TestImage/<name>) gives it; otherwise one is drawn once from the seed.
SourceData load_spaq(const SourceFiles& f, uint64_t seed) {
  IQA_CHECK(!f.scenes.empty(), "spaq: --scenes (\"Scene category labels.xlsx\" or a CSV export) is required");
  CsvTable scores = read_score_table(single_scores_file("spaq", f));
  const size_t img = scores.column({"Image name", "image_name", "image"});
  const size_t mos = scores.column({"MOS"});
  const std::map<std::string, std::vector<int>> candidates = spaq_scene_candidates(f.scenes);
  std::map<std::string, int> chosen;
  if (!f.scene_choice.empty())
    for (const DatasetEntry& e : read_data_json(f.scene_choice).entries)
      chosen[basename_of(e.image)] = e.domain_id - 100;
  SeededIndexRandom rng(seed, 0);
  const std::string prefix = prefix_of("spaq", f);
  SourceData s{"spaq", {}, {}};
  for (size_t r = 0; r < scores.rows.size(); ++r) {
    const std::string& name = scores.rows[r][img];
    auto it = candidates.find(name);
    IQA_CHECK(it != candidates.end(), f.scenes, ": no scene labels for ", name, " (listed in ", scores.name, ")");
    const std::vector<int>& c = it->second;
    int k = c[0];
    if (c.size() > 1 && !f.scene_choice.empty()) {
      auto ch = chosen.find(name);
      IQA_CHECK(ch != chosen.end(), f.scene_choice, ": no entry for SPAQ image ", name, ", which has several scenes");
      IQA_CHECK(std::count(c.begin(), c.end(), ch->second), f.scene_choice, ": ", name, " is in domain ",
                ch->second + 100, ", not one of its scenes in ", f.scenes);
      k = ch->second;
    } else if (c.size() > 1) {
      k = c[size_t(rng.below(c.size()))];  // drawn once, in score-file order
    }
    s.list.entries.push_back({prefix + name, number_at(scores, r, mos), 100 + k, spaq_scene_names()[size_t(k)]});
  }
  name_domains(s.list, 100, spaq_scene_names());
  return s;
}

// EVA as the reference reads it: image_content_category.csv's order, images without votes skipped,
// score = mean vote, domain 1100 + category, images under their category's folder.
SourceData load_eva(const SourceFiles& f) {
  static const std::vector<std::string> categories = {"animals", "architectures and city scenes", "human",
                                                      "natural and rural scenes", "still life", "other"};
  IQA_CHECK(!f.scenes.empty(), "eva: --scenes (image_content_category.csv) is required");
  CsvTable votes = read_csv(single_scores_file("eva", f));
  const size_t id = votes.column({"image_id"}), score = votes.column({"score"});
  std::map<std::string, std::pair<double, int>> sums;
  for (size_t r = 0; r < votes.rows.size(); ++r) {
    auto& [sum, n] = sums[votes.rows[r][id]];
    sum += number_at(votes, r, score);
    n += 1;
  }
  CsvTable cats = read_csv(f.scenes);
  const size_t cid = cats.column({"image_id"}), cat_col = cats.column({"category_id", "category", "content"});
  const std::string prefix = prefix_of("eva", f);
  const size_t slot = prefix.find("{category}");
  SourceData s{"eva", {}, {}};
  for (size_t r = 0; r < cats.rows.size(); ++r) {
    const int c = integer_at(cats, r, cat_col, 1, 6);
    auto it = sums.find(cats.rows[r][cid]);
    if (it == sums.end()) continue;  // no votes: the reference leaves the image out
    const std::string folder = slot == std::string::npos ? prefix : std::string(prefix).replace(slot, 10, cat(c));
    s.list.entries.push_back({folder + it->first + ".jpg", it->second.first / it->second.second, 1100 + c,
                              categories[size_t(c - 1)]});
  }
  name_domains(s.list, 1101, categories);
  return s;
}

SourceData load_para(const SourceFiles& f) {
  IQA_CHECK(!f.scores.empty(), "para: expected --scores PARA-GiaaTrain.csv [PARA-GiaaTest.csv]");
  struct Row { std::string image, semantic, split; double score; };
  std::vector<Row> rows;
  const std::string prefix = prefix_of("para", f);
  for (const std::string& path : f.scores) {
    CsvTable t = read_csv(path);
    const size_t session = t.column({"sessionId"}), image = t.column({"imageName"});
    const size_t score = t.column({"aestheticScore_mean"}), semantic = t.column({"semantic"});
    const bool test = lower(basename_of(path)).find("test") != std::string::npos;
    for (size_t r = 0; r < t.rows.size(); ++r)
      rows.push_back({prefix + t.rows[r][session] + "/" + t.rows[r][image], t.rows[r][semantic],
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
  const bool listing = files.scores.size() == 1 && lower(files.scores[0]).size() > 5 &&
                       lower(files.scores[0]).substr(files.scores[0].size() - 5) == ".json";
  if (listing) s = {dataset, read_data_json(files.scores[0]), {}};  // e.g. the reference's all/<ds>_all.json
  else if (dataset == "koniq10k") s = load_koniq(files);
  else if (dataset == "spaq") s = load_spaq(files, seed);
  else if (dataset == "livec" || dataset == "bid" || dataset == "cid2013") s = load_image_mos(dataset, files);
  else if (dataset == "kadid10k") s = load_kadid(files);
  else if (dataset == "csiq") s = load_csiq(files);
  else if (dataset == "live") s = load_live(files);
  else if (dataset == "tid2013") s = load_tid2013(files);
  else if (dataset == "eva") s = load_eva(files);
  else if (dataset == "para") s = load_para(files);
  else if (dataset == "ava") s = load_ava(files);
  else if (dataset == "nnid") s = load_nnid(files);
  else if (dataset == "piq23") s = load_piq23(files);
  else if (dataset == "agiqa3k") s = load_agiqa3k(files);
  else if (dataset == "pipal") s = load_pipal(files);
  else fail(cat(dataset, ": make-splits has no reader for this dataset"));
  IQA_CHECK(!s.list.entries.empty(), dataset, ": the score files list no images");
  return s;
}

}  // namespace iqa
