// data_json reading and writing (see dataset.h). Validation and the registry: dataset_registry.cpp.
#include "engine/atomic_file.h"
#include "training/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace iqa {
namespace {

using json = nlohmann::json;

const char* json_kind(const json& v) {
  return v.type_name();  // "string", "number", "object", ...
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  IQA_CHECK(in, path, ": cannot open dataset listing for reading");
  std::ostringstream os;
  os << in.rdbuf();
  IQA_CHECK(!in.bad(), path, ": read error");
  return os.str();
}

// A string, or a number as its text; false for anything else.
bool scalar_text(const json& v, std::string& out) {
  if (v.is_string())
    out = v.get<std::string>();
  else if (v.is_number_integer())
    out = std::to_string(v.get<int64_t>());
  else if (v.is_number())
    out = v.dump();
  else
    return false;
  return true;
}

// An optional string field. SIND itself reads only image, score and domain_id, so these informational
// fields never fail a listing: absent or null -> ""; a number -> its text; a list (SPAQ leave-one-out
// train JSONs store the scene candidates) -> its strings and numbers joined with '|'; anything else is
// dropped with a warning.
std::string optional_string(const json& item, const char* key, const std::string& where,
                            std::vector<std::string>& warnings) {
  auto it = item.find(key);
  if (it == item.end() || it->is_null()) return "";
  std::string text;
  if (scalar_text(*it, text)) return text;
  if (it->is_array()) {
    std::string joined, one;
    for (const json& v : *it)
      if (scalar_text(v, one)) joined += (joined.empty() ? "" : "|") + one;
    return joined;
  }
  warnings.push_back(cat(where, ".", key, ": ", json_kind(*it), " ignored (SIND does not read this field)"));
  return "";
}

DatasetEntry parse_entry(const json& item, const std::string& where, std::vector<std::string>& warnings) {
  IQA_CHECK(item.is_object(), where, ": expected an object, got ", json_kind(item));
  DatasetEntry e;
  auto image = item.find("image");
  IQA_CHECK(image != item.end(), where, ": missing field 'image'");
  IQA_CHECK(image->is_string(), where, ".image: expected a string, got ", json_kind(*image));
  e.image = image->get<std::string>();
  IQA_CHECK(!e.image.empty(), where, ".image: empty path");

  auto score = item.find("score");
  IQA_CHECK(score != item.end(), where, ": missing field 'score'");
  IQA_CHECK(score->is_number(), where, ".score: expected a number, got ", json_kind(*score));
  e.score = score->get<double>();
  IQA_CHECK(std::isfinite(e.score), where, ".score: not a finite number");

  auto domain = item.find("domain_id");
  IQA_CHECK(domain != item.end(), where, ": missing field 'domain_id'");
  // SIND's generator writes ints; a float that is an exact integer (pandas round trips) is accepted.
  if (domain->is_number_integer()) {
    int64_t d = domain->get<int64_t>();
    IQA_CHECK(d >= 0 && d <= 1'000'000, where, ".domain_id: ", d, " outside 0..1000000");
    e.domain_id = int(d);
  } else if (domain->is_number_float()) {
    double d = domain->get<double>();
    IQA_CHECK(std::isfinite(d) && d == std::floor(d) && d >= 0 && d <= 1'000'000, where, ".domain_id: ", d,
              " is not an integer in 0..1000000");
    e.domain_id = int(d);
  } else {
    fail(cat(where, ".domain_id: expected an integer, got ", json_kind(*domain)));
  }
  e.scene = optional_string(item, "scene", where, warnings);
  e.dist_type = optional_string(item, "dist_type", where, warnings);
  e.reference = optional_string(item, "reference", where, warnings);
  return e;
}

}  // namespace

DatasetList parse_data_json(const std::string& text, const std::string& name) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    fail(cat(name, ": not valid JSON: ", e.what()));
  }
  IQA_CHECK(doc.is_object(), name, ": expected a top-level object with a 'files' list, got ", json_kind(doc));
  auto files = doc.find("files");
  IQA_CHECK(files != doc.end(), name, ": missing field 'files'");
  IQA_CHECK(files->is_array(), name, ": files: expected a list, got ", json_kind(*files));

  DatasetList list;
  list.entries.reserve(files->size());
  for (size_t i = 0; i < files->size(); ++i)
    list.entries.push_back(parse_entry((*files)[i], cat(name, ": files[", i, "]"), list.warnings));

  // domain_name is informational (SIND never reads it): unusable parts are skipped with a warning, and
  // numbers are taken as their text (the reference's tid2013_all.json maps "901" to 1).
  auto names = doc.find("domain_name");
  if (names != doc.end() && !names->is_null()) {
    if (!names->is_object()) {
      list.warnings.push_back(cat(name, ": domain_name: ", json_kind(*names), " ignored (expected an object)"));
      return list;
    }
    for (auto it = names->begin(); it != names->end(); ++it) {
      const std::string& key = it.key();
      size_t used = 0;
      int id = -1;
      try {
        id = std::stoi(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      std::string label;
      if (used != key.size() || id < 0) {
        list.warnings.push_back(cat(name, ": domain_name: key '", key, "' is not a domain id; ignored"));
      } else if (!scalar_text(it.value(), label)) {
        list.warnings.push_back(cat(name, ": domain_name[\"", key, "\"]: ", json_kind(it.value()), " ignored"));
      } else {
        list.domain_names[id] = label;
      }
    }
  }
  return list;
}

DatasetList read_data_json(const std::string& path) {
  DatasetList list = parse_data_json(read_text_file(path), path);
  // Warnings go to stderr, a few per file: listings with one odd field per entry stay readable.
  const size_t shown = std::min<size_t>(list.warnings.size(), 3);
  for (size_t i = 0; i < shown; ++i) std::fprintf(stderr, "warning: %s\n", list.warnings[i].c_str());
  if (list.warnings.size() > shown)
    std::fprintf(stderr, "warning: %s: %zu more like these\n", path.c_str(), list.warnings.size() - shown);
  return list;
}

std::optional<DatasetList> read_data_json_if_present(const std::string& path, const std::string& note) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!note.empty()) std::fprintf(stderr, "note: %s does not exist: %s\n", path.c_str(), note.c_str());
    return std::nullopt;
  }
  return read_data_json(path);
}

std::string to_data_json(const DatasetList& list) {
  std::string out = "{\"files\": [";
  for (size_t i = 0; i < list.entries.size(); ++i) {
    const DatasetEntry& e = list.entries[i];
    nlohmann::ordered_json item = nlohmann::ordered_json::object();  // SIND's key order
    item["image"] = e.image;
    item["score"] = e.score;
    item["domain_id"] = e.domain_id;
    if (!e.scene.empty()) item["scene"] = e.scene;
    if (!e.dist_type.empty()) item["dist_type"] = e.dist_type;
    if (!e.reference.empty()) item["reference"] = e.reference;
    out += (i ? ",\n  " : "\n  ") + item.dump();
  }
  out += list.entries.empty() ? "]" : "\n]";
  if (!list.domain_names.empty()) {
    json names = json::object();
    for (const auto& [id, n] : list.domain_names) names[std::to_string(id)] = n;
    out += ",\n\"domain_name\": " + names.dump();
  }
  out += "}\n";
  return out;
}

void write_data_json(const std::string& path, const DatasetList& list) {
  write_file_atomically(path, to_data_json(list), "data_json " + path);
}

std::string resolve_image_path(const std::string& data_root, const std::string& image) {
  if (data_root.empty() || (!image.empty() && image[0] == '/')) return image;
  return data_root.back() == '/' ? data_root + image : data_root + "/" + image;
}

}  // namespace iqa
