// libFuzzer target: the dataset listing readers on arbitrary text: SIND data_json (parse_data_json)
// and the score-file CSV reader behind make-splits (parse_csv). Each must parse or throw iqa::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "training/data/csv.h"
#include "training/data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    iqa::DatasetList list = iqa::parse_data_json(text, "<fuzz>");
    // Whatever parsed must survive a round trip unchanged in size.
    if (iqa::parse_data_json(iqa::to_data_json(list), "<roundtrip>").entries.size() != list.entries.size())
      __builtin_trap();
    iqa::summarize_dataset(list);
  } catch (const iqa::Error&) {
  }
  try {
    iqa::CsvTable t = iqa::parse_csv(text, "<fuzz>");
    for (const auto& row : t.rows)
      if (row.size() != t.header.size()) __builtin_trap();
  } catch (const iqa::Error&) {
  }
  return 0;
}
