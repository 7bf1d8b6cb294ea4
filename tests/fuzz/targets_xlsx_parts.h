// The .xlsx reader below its zip layer. A mutated workbook rarely survives libzip's CRC check, so the
// `xlsx` target mostly fuzzes the archive code; this one fuzzes the XML parts themselves and what the
// reader makes of them (relationships, sheet order, shared strings, cell references, inline strings).
// The input is the five parts separated by NUL bytes (XML holds none), in the order of kXlsxParts; the
// target stores them, unmodified and uncompressed, in a fresh zip and reads it as fuzz_xlsx does. An
// empty part is left out of the archive, so missing parts are fuzzed too. The seeds are the parts of
// the committed official workbooks (write_xlsx_part_seeds in tests/fuzz/seeds_more.h).
#pragma once
#include <array>

#if __has_include(<zip.h>) && __has_include(<expat.h>)
#include <zip.h>
#define IQA_FUZZ_CAN_ZIP 1
#endif

namespace iqa::fuzz {

inline constexpr std::array<const char*, 5> kXlsxParts = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                                                          "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml",
                                                          "xl/worksheets/sheet2.xml"};

// Splits at NUL bytes into at most kXlsxParts.size() parts (the last takes the rest, NULs included).
inline std::vector<std::string> split_xlsx_parts(const uint8_t* data, size_t size) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0 && parts.size() < kXlsxParts.size()) parts.emplace_back();
    else parts.back() += char(data[i]);
  }
  parts.resize(kXlsxParts.size());
  return parts;
}

inline int fuzz_xlsx_parts(const uint8_t* data, size_t size) {
#ifdef IQA_FUZZ_CAN_ZIP
  if (!xlsx_supported()) return 0;
  const std::vector<std::string> parts = split_xlsx_parts(data, size);
  const std::string path = (scratch_dir() / "parts.xlsx").string();
  int err = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  fuzz_require(zip != nullptr, "cannot create the scratch zip");
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    // libzip reads the buffer at zip_close: `parts` outlives it.
    zip_source_t* src = zip_source_buffer(zip, parts[i].data(), parts[i].size(), 0);
    fuzz_require(src != nullptr, "zip_source_buffer");
    const zip_int64_t index = zip_file_add(zip, kXlsxParts[i], src, ZIP_FL_OVERWRITE);
    if (index < 0) zip_source_free(src);
    fuzz_require(index >= 0, "zip_file_add");
    zip_set_file_compression(zip, zip_uint64_t(index), ZIP_CM_STORE, 0);
  }
  fuzz_require(zip_close(zip) == 0, "zip_close of the scratch zip");
  try {
    const std::vector<std::string> names = xlsx_sheet_names(path);
    require_table_shape(read_xlsx(path));
    for (const std::string& n : names) require_table_shape(read_xlsx(path, {n}));
  } catch (const Error&) {
  }
#else
  (void)data, (void)size;
#endif
  return 0;
}

}  // namespace iqa::fuzz
