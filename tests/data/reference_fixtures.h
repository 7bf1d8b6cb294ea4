// Helpers of the tests on the SIND reference's layouts and on TIFF files: a temporary folder to write
// fixtures into, the message of the iqa::Error a call throws, and listings as comparable rows.
#pragma once
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "training/data/dataset.h"

namespace iqa::fixtures {

// A fresh folder under the system temp dir, removed with its contents at scope exit.
struct FixtureDir {
  std::filesystem::path path;
  explicit FixtureDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("iqa_" + tag + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~FixtureDir() { std::filesystem::remove_all(path); }
  // Writes `text` to <path>/<name>, creating its folders; returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories((path / name).parent_path());
    std::ofstream(path / name, std::ios::binary) << text;
    return (path / name).string();
  }
  std::string str(const std::string& name = "") const { return (path / name).string(); }
};

// The what() of the iqa::Error fn throws; "" when it throws none.
inline std::string error_message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const iqa::Error& e) {
    return e.what();
  }
  return "";
}

using Row = std::tuple<std::string, double, int>;  // image, score, domain_id
inline std::vector<Row> rows_of(const DatasetList& l) {
  std::vector<Row> out;
  for (const auto& e : l.entries) out.emplace_back(e.image, e.score, e.domain_id);
  return out;
}

}  // namespace iqa::fixtures
