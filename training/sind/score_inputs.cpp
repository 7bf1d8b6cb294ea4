#include "training/sind/score_inputs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"
#include "training/image/decode.h"

namespace iqa::training {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Whether the file's first bytes are an image format's (unreadable files are not).
bool looks_like_image(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  uint8_t head[8] = {};
  f.read(reinterpret_cast<char*>(head), sizeof head);
  return detect_image_format(head, size_t(f.gcount())) != ImageFormat::Unknown;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string six(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.6f", v);
  return b;
}

}  // namespace

ScoreInputs list_score_inputs(const std::vector<std::string>& inputs) {
  ScoreInputs out;
  for (const std::string& in : inputs) {
    if (!fs::is_directory(in)) {
      out.list.entries.push_back(DatasetEntry{in});  // a missing or bad file fails when scored, by name
      continue;
    }
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(in)) {
      if (!e.is_regular_file()) continue;
      const bool listed = image_format_from_extension(e.path().string()) != ImageFormat::Unknown || looks_like_image(e.path());
      (listed ? files : out.ignored).push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) out.list.entries.push_back(DatasetEntry{f});
  }
  std::sort(out.ignored.begin(), out.ignored.end());
  return out;
}

ScoreInputs read_score_listing(const std::string& path) {
  std::ifstream f(path);
  IQA_CHECK(f.good(), "sind-score: cannot open the listing ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  json doc;
  try {
    doc = json::parse(ss.str());
  } catch (const json::exception& e) {
    fail(cat(path, ": not valid JSON: ", e.what()));
  }
  const json* files = &doc;
  if (doc.is_object()) {
    IQA_CHECK(doc.contains("files"), path, ": missing field 'files'");
    files = &doc.at("files");
  }
  IQA_CHECK(files->is_array(), path, ": expected a list of images ('files'), got ", files->type_name());
  ScoreInputs out;
  out.labelled = doc.is_object() && std::all_of(files->begin(), files->end(), [](const json& item) {
                   return item.is_object() && item.contains("score") && item.contains("domain_id");
                 });
  if (out.labelled && !files->empty()) {
    out.list = parse_data_json(ss.str(), path);
    return out;
  }
  out.labelled = false;
  for (size_t i = 0; i < files->size(); ++i) {
    const json& item = (*files)[i];
    const json* image = item.is_object() && item.contains("image") ? &item.at("image") : &item;
    IQA_CHECK(image->is_string(), path, ": files[", i, "]: expected an image path (a string or {\"image\": ...}), got ",
              image->type_name());
    out.list.entries.push_back(DatasetEntry{image->get<std::string>()});
  }
  return out;
}

std::string scores_csv(const std::vector<ScoreRow>& rows, bool calibrated) {
  std::string s = calibrated ? "image,score,calibrated\n" : "image,score\n";
  for (const ScoreRow& r : rows)
    s += csv_field(r.image) + "," + six(r.score) + (calibrated ? "," + six(r.calibrated) : std::string()) + "\n";
  return s;
}

std::string scores_json(const std::vector<ScoreRow>& rows, bool calibrated) {
  json j = json::array();
  for (const ScoreRow& r : rows) {
    json row{{"image", r.image}, {"score", r.score}};
    if (calibrated) row["calibrated"] = r.calibrated;
    j.push_back(row);
  }
  return j.dump(2) + "\n";
}

}  // namespace iqa::training
