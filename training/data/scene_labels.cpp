#include "training/data/scene_labels.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "training/data/csv.h"

namespace iqa {

namespace {

std::string file_name(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

void add_label(SceneLabelFile& f, const std::string& image, int id, const std::string& scene, const std::string& where) {
  IQA_CHECK(!image.empty(), f.name, where, ": empty image");
  IQA_CHECK(f.by_image.emplace(image, SceneLabelFile::Label{id, scene}).second, f.name, where, ": ", image,
            " is labelled twice");
}

void read_json_labels(SceneLabelFile& f, const std::string& text) {
  nlohmann::json js;
  try {
    js = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail(cat(f.name, ": not valid JSON (", e.what(), ")"));
  }
  IQA_CHECK(js.is_array(), f.name, ": expected a JSON array of {image, scene, domain_id}");
  for (size_t i = 0; i < js.size(); ++i) {
    const auto& item = js[i];
    const std::string where = cat(" entry ", i);
    IQA_CHECK(item.is_object() && item.contains("image") && item["image"].is_string() && item.contains("domain_id") &&
                  item["domain_id"].is_number_integer(),
              f.name, where, ": needs a string \"image\" and an integer \"domain_id\"");
    const std::string scene = item.contains("scene") && item["scene"].is_string() ? item["scene"].get<std::string>() : "";
    add_label(f, item["image"].get<std::string>(), item["domain_id"].get<int>(), scene, where);
  }
}

void read_csv_labels(SceneLabelFile& f, const std::string& text) {
  const CsvTable t = parse_csv(text, f.name, ',');
  const size_t image = t.column({"image"}), id = t.column({"domain_id"});
  const long scene = t.find_column({"scene"});
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string where = cat(":", t.row_lines[r]);
    const std::string& cell = t.rows[r][id];
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(cell, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    IQA_CHECK(!cell.empty() && used == cell.size(), f.name, where, ": domain_id '", cell, "' is not an integer");
    add_label(f, t.rows[r][image], value, scene >= 0 ? t.rows[r][size_t(scene)] : "", where);
  }
}

}  // namespace

SceneLabelFile read_scene_label_file(const std::string& path) {
  SceneLabelFile f;
  f.name = path;
  const std::string text = read_text(path);
  const size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  IQA_CHECK(first != std::string::npos, path, ": empty scene label file");
  if (text[first] == '[') read_json_labels(f, text);
  else read_csv_labels(f, text);
  IQA_CHECK(!f.by_image.empty(), path, ": no scene labels");
  return f;
}

void apply_scene_labels(DatasetList& list, const SceneLabelFile& labels) {
  // File name -> the labelled image, "" when two labelled images share it.
  std::map<std::string, std::string> by_name;
  for (const auto& [image, label] : labels.by_image) {
    auto [it, fresh] = by_name.emplace(file_name(image), image);
    if (!fresh) it->second.clear();
  }
  list.domain_names.clear();  // the old domains' names no longer apply
  for (DatasetEntry& e : list.entries) {
    auto it = labels.by_image.find(e.image);
    if (it == labels.by_image.end()) {
      auto n = by_name.find(file_name(e.image));
      IQA_CHECK(n != by_name.end(), labels.name, ": no scene label for ", e.image);
      IQA_CHECK(!n->second.empty(), labels.name, ": the file name of ", e.image,
                " is labelled more than once (under different folders); label the listing itself (iqa-scenes "
                "--data_json) so that paths match");
      it = labels.by_image.find(n->second);
    }
    e.domain_id = it->second.domain_id;
    e.scene = it->second.scene;
    if (!e.scene.empty()) list.domain_names[e.domain_id] = e.scene;
  }
}

}  // namespace iqa
