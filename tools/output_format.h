// --format of the tools that write a table of results (sind-score, iqa-scenes): csv, json, or auto,
// which picks json for an --out ending in .json and csv otherwise (stdout included).
#pragma once
#include <string>

#include "training/choice.h"

namespace iqa::tools {

enum class OutputFormat { Auto, Csv, Json };

inline bool writes_json(OutputFormat f, const std::string& out) {
  return f == OutputFormat::Json ||
         (f == OutputFormat::Auto && out.size() > 5 && out.compare(out.size() - 5, 5, ".json") == 0);
}

}  // namespace iqa::tools

template <>
struct iqa::training::ChoiceSpellings<iqa::tools::OutputFormat> {
  static constexpr const char* flag = "--format";
  static constexpr Spelling<iqa::tools::OutputFormat> all[] = {{iqa::tools::OutputFormat::Auto, "auto"},
                                                               {iqa::tools::OutputFormat::Csv, "csv"},
                                                               {iqa::tools::OutputFormat::Json, "json"}};
};
