// data_json reading and writing (see dataset.h). Validation and the registry: dataset_registry.cpp.
#include "training/data/dataset.h"

#include <cmath>
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

// An optional string field: absent or null -> ""; a list of strings (SPAQ leave-one-out train JSONs
// store the scene candidates) -> joined with '|'; anything else is an error.
std::string optional_string(const json& item, const char* key, const std::string& where) {
  auto it = item.find(key);
  if (it == item.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  if (it->is_array()) {
    std::string joined;
    for (size_t k = 0; k < it->size(); ++k) {
      const json& v = (*it)[k];
      IQA_CHECK(v.is_string(), where, ".", key, "[", k, "]: expected a string, got ", json_kind(v));
      joined += (k ? "|" : "") + v.get<std::string>();
    }
    return joined;
  }
  fail(cat(where, ".", key, ": expected a string, got ", json_kind(*it)));
}

DatasetEntry parse_entry(const json& item, const std::string& where) {
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
  e.scene = optional_string(item, "scene", where);
  e.dist_type = optional_string(item, "dist_type", where);
  e.reference = optional_string(item, "reference", where);
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
    list.entries.push_back(parse_entry((*files)[i], cat(name, ": files[", i, "]")));

  auto names = doc.find("domain_name");
  if (names != doc.end() && !names->is_null()) {
    IQA_CHECK(names->is_object(), name, ": domain_name: expected an object, got ", json_kind(*names));
    for (auto it = names->begin(); it != names->end(); ++it) {
      const std::string& key = it.key();
      size_t used = 0;
      int id = -1;
      try {
        id = std::stoi(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      IQA_CHECK(used == key.size() && id >= 0, name, ": domain_name: key '", key, "' is not a domain id");
      IQA_CHECK(it.value().is_string(), name, ": domain_name[\"", key, "\"]: expected a string, got ",
                json_kind(it.value()));
      list.domain_names[id] = it.value().get<std::string>();
    }
  }
  return list;
}

DatasetList read_data_json(const std::string& path) { return parse_data_json(read_text_file(path), path); }

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
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  IQA_CHECK(out, path, ": cannot open for writing");
  out << to_data_json(list);
  out.flush();
  IQA_CHECK(out.good(), path, ": write error");
}

std::string resolve_image_path(const std::string& data_root, const std::string& image) {
  if (data_root.empty() || (!image.empty() && image[0] == '/')) return image;
  return data_root.back() == '/' ? data_root + image : data_root + "/" + image;
}

}  // namespace iqa
