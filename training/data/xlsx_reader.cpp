#include "training/data/xlsx_reader.h"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <optional>

#include "engine/error.h"

#ifdef IQA_HAVE_XLSX
#include <expat.h>
#include <zip.h>
#endif

namespace iqa {
namespace {

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(),
                    [](char a, char b) { return std::tolower((unsigned char)a) == std::tolower((unsigned char)b); });
}

bool equal_ci(const std::string& a, const std::string& b) { return a.size() == b.size() && ends_with_ci(a, b); }

}  // namespace

CsvTable read_score_table(const std::string& path, const std::vector<std::string>& sheet_names) {
  return ends_with_ci(path, ".xlsx") ? read_xlsx(path, sheet_names) : read_csv(path);
}

#ifndef IQA_HAVE_XLSX

bool xlsx_supported() { return false; }
std::vector<std::string> xlsx_sheet_names(const std::string& path) {
  read_xlsx(path);  // throws: no reader in this build
  return {};
}
CsvTable read_xlsx(const std::string& path, const std::vector<std::string>&) {
  throw Error(path + ": this build reads no .xlsx files (libzip and libexpat were not found when it was "
                     "configured: install libzip-dev and libexpat1-dev, rerun cmake), or pass a CSV export of the sheet");
}

#else

bool xlsx_supported() { return true; }

namespace {

// An element's name without its namespace prefix ("x:row" -> "row"): writers differ in prefixes.
std::string local(const char* name) {
  const char* colon = std::strrchr(name, ':');
  return colon ? colon + 1 : name;
}

struct XmlCallbacks {
  std::function<void(const std::string&, const std::map<std::string, std::string>&)> start;
  std::function<void(const std::string&)> end;
  std::function<void(const std::string&)> text;
};

// A callback's exception must not unwind through libexpat's C frames (the parser would never be
// freed: found by tests/fuzz, regressions/fuzz_xlsx/sheet_without_part): it is kept, the parse
// stopped, the parser freed, and then it is rethrown.
struct XmlParse {
  XML_Parser parser;
  XmlCallbacks* cb;
  std::exception_ptr error;

  template <class F>
  static void guarded(void* ud, F&& f) {
    auto* x = static_cast<XmlParse*>(ud);
    if (x->error) return;
    try {
      f(*x->cb);
    } catch (...) {
      x->error = std::current_exception();
      XML_StopParser(x->parser, XML_FALSE);
    }
  }
};

void parse_xml(const std::string& xml, const std::string& what, XmlCallbacks& cb) {
  XML_Parser p = XML_ParserCreate(nullptr);
  IQA_CHECK(p != nullptr, what, ": cannot create an XML parser");
  XmlParse state{p, &cb, nullptr};
  XML_SetUserData(p, &state);
  XML_SetElementHandler(
      p,
      [](void* ud, const XML_Char* name, const XML_Char** atts) {
        XmlParse::guarded(ud, [&](XmlCallbacks& c) {
          if (!c.start) return;
          std::map<std::string, std::string> a;
          for (int i = 0; atts[i]; i += 2) a[local(atts[i])] = atts[i + 1];
          c.start(local(name), a);
        });
      },
      [](void* ud, const XML_Char* name) {
        XmlParse::guarded(ud, [&](XmlCallbacks& c) {
          if (c.end) c.end(local(name));
        });
      });
  XML_SetCharacterDataHandler(p, [](void* ud, const XML_Char* s, int len) {
    XmlParse::guarded(ud, [&](XmlCallbacks& c) {
      if (c.text) c.text(std::string(s, size_t(len)));
    });
  });
  const bool ok = XML_Parse(p, xml.data(), int(xml.size()), 1) == XML_STATUS_OK;
  const std::string err = ok ? "" : XML_ErrorString(XML_GetErrorCode(p));
  const auto line = XML_GetCurrentLineNumber(p);
  XML_ParserFree(p);
  if (state.error) std::rethrow_exception(state.error);
  IQA_CHECK(ok, what, ": line ", line, ": ", err);
}

// The workbook's parts, read from the zip on demand.
class Workbook {
 public:
  explicit Workbook(const std::string& path) : path_(path) {
    int err = 0;
    zip_ = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (!zip_) {
      zip_error_t ze;
      zip_error_init_with_code(&ze, err);
      const std::string msg = zip_error_strerror(&ze);
      zip_error_fini(&ze);
      throw Error(path + ": not a readable .xlsx (zip) file: " + msg);
    }
  }
  ~Workbook() { zip_discard(zip_); }
  Workbook(const Workbook&) = delete;
  Workbook& operator=(const Workbook&) = delete;

  // The archive's directory declares each part's size and can lie, so a part is read in chunks up to
  // kMaxPartBytes instead of allocated up front (a 3 KB file drove the reader past 2 GB: found by
  // tests/fuzz, regressions/fuzz_xlsx/part_size_lies).
  static constexpr size_t kMaxPartBytes = size_t(256) << 20;  // a score sheet of millions of rows
  std::optional<std::string> part(const std::string& name) const {
    zip_stat_t st;
    if (zip_stat(zip_, name.c_str(), 0, &st) != 0) return std::nullopt;
    zip_file_t* f = zip_fopen(zip_, name.c_str(), 0);
    IQA_CHECK(f != nullptr, path_, ": cannot open part ", name, " of the archive");
    std::string out;
    char chunk[1 << 16];
    zip_int64_t n = 0;
    while (out.size() <= kMaxPartBytes && (n = zip_fread(f, chunk, sizeof chunk)) > 0) out.append(chunk, size_t(n));
    zip_fclose(f);
    IQA_CHECK(out.size() <= kMaxPartBytes, path_, ": part ", name, " is over ", kMaxPartBytes >> 20,
              " MiB uncompressed (not a score sheet)");
    IQA_CHECK(n == 0 && out.size() == st.size, path_, ": part ", name, " is truncated or corrupt (", out.size(),
              " of ", st.size, " bytes read)");
    return out;
  }
  std::string required(const std::string& name) const {
    auto p = part(name);
    IQA_CHECK(p.has_value(), path_, ": no ", name, " in the archive (not an .xlsx workbook)");
    return *p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  zip_t* zip_ = nullptr;
};

struct SheetRef {
  std::string name, part;  // "Sheet1", "xl/worksheets/sheet1.xml"
};

std::vector<SheetRef> sheets_of(const Workbook& wb) {
  std::map<std::string, std::string> targets;  // relationship id -> part
  XmlCallbacks rels;
  rels.start = [&](const std::string& el, const std::map<std::string, std::string>& a) {
    if (el != "Relationship" || !a.count("Id") || !a.count("Target")) return;
    const std::string& t = a.at("Target");
    targets[a.at("Id")] = t.rfind("/", 0) == 0 ? t.substr(1) : "xl/" + t;  // absolute, or relative to xl/
  };
  parse_xml(wb.required("xl/_rels/workbook.xml.rels"), wb.path() + ": xl/_rels/workbook.xml.rels", rels);
  std::vector<SheetRef> out;
  XmlCallbacks book;
  book.start = [&](const std::string& el, const std::map<std::string, std::string>& a) {
    if (el != "sheet") return;
    auto id = a.find("id");
    IQA_CHECK(id != a.end() && targets.count(id->second), wb.path(), ": sheet '",
              a.count("name") ? a.at("name") : "?", "' has no part in xl/_rels/workbook.xml.rels");
    out.push_back({a.count("name") ? a.at("name") : "", targets.at(id->second)});
  };
  parse_xml(wb.required("xl/workbook.xml"), wb.path() + ": xl/workbook.xml", book);
  IQA_CHECK(!out.empty(), wb.path(), ": the workbook has no sheets");
  return out;
}

// sharedStrings.xml: the text of each <si>, its runs joined, phonetic guides (<rPh>) left out.
std::vector<std::string> shared_strings(const Workbook& wb) {
  std::vector<std::string> out;
  auto xml = wb.part("xl/sharedStrings.xml");
  if (!xml) return out;
  bool in_t = false;
  int in_phonetic = 0;
  XmlCallbacks cb;
  cb.start = [&](const std::string& el, const std::map<std::string, std::string>&) {
    if (el == "si") out.emplace_back();
    else if (el == "rPh") ++in_phonetic;
    else if (el == "t") in_t = true;
  };
  cb.end = [&](const std::string& el) {
    if (el == "rPh") --in_phonetic;
    else if (el == "t") in_t = false;
  };
  cb.text = [&](const std::string& s) {
    if (in_t && !in_phonetic && !out.empty()) out.back() += s;
  };
  parse_xml(*xml, wb.path() + ": xl/sharedStrings.xml", cb);
  return out;
}

// Excel's last column, XFD: 16384 columns.
constexpr long kMaxColumns = 16384;

// "BC12" -> column 54 (0-based); -1 when the reference has no letters. A reference past XFD throws
// (the fuzzer's 16-letter one overflowed the arithmetic).
long column_of(const std::string& ref, const std::string& what) {
  long col = 0;
  size_t i = 0;
  for (; i < ref.size() && std::isalpha((unsigned char)ref[i]); ++i) {
    col = col * 26 + (std::toupper(ref[i]) - 'A' + 1);
    if (col > kMaxColumns) fail(cat(what, ": cell reference '", ref, "' is beyond Excel's last column XFD"));
  }
  return i == 0 ? -1 : col - 1;
}

// Excel's last row; a row attribute is a number from 1 to it.
constexpr long kMaxRows = 1048576;

long row_of(const std::string& r, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  const long row = std::strtol(r.c_str(), &end, 10);
  if (errno != 0 || end == r.c_str() || *end != '\0' || row < 1 || row > kMaxRows)
    fail(cat(what, ": row number '", r, "' is not between 1 and ", kMaxRows));
  return row;
}

using Grid = std::map<long, std::map<long, std::string>>;  // row number -> column -> text

Grid read_cells(const std::string& xml, const std::string& what, const std::vector<std::string>& strings) {
  Grid grid;
  long row = 0, col = -1;
  std::string type, value;
  bool in_value = false, in_cell = false;
  XmlCallbacks cb;
  cb.start = [&](const std::string& el, const std::map<std::string, std::string>& a) {
    if (el == "row") {
      row = a.count("r") ? row_of(a.at("r"), what) : row + 1;
      if (row > kMaxRows) fail(cat(what, ": row ", row, " is beyond Excel's last row ", kMaxRows));
      col = -1;
    } else if (el == "c") {
      const long c = a.count("r") ? column_of(a.at("r"), what) : -1;
      col = c >= 0 ? c : col + 1;
      type = a.count("t") ? a.at("t") : "n";
      value.clear();
      in_cell = true;
    } else if (in_cell && (el == "v" || el == "t")) {
      in_value = true;
    }
  };
  cb.end = [&](const std::string& el) {
    if (el == "v" || el == "t") in_value = false;
    if (el != "c") return;
    in_cell = false;
    if (type == "s" && !value.empty()) {
      const long i = std::atol(value.c_str());
      IQA_CHECK(i >= 0 && size_t(i) < strings.size(), what, ": row ", row, ": shared string ", value,
                " is out of range (", strings.size(), " strings)");
      value = strings[size_t(i)];
    }
    if (!value.empty()) grid[row][col] = value;
  };
  cb.text = [&](const std::string& s) {
    if (in_value) value += s;
  };
  parse_xml(xml, what, cb);
  return grid;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

std::vector<std::string> xlsx_sheet_names(const std::string& path) {
  std::vector<std::string> names;
  for (const auto& s : sheets_of(Workbook(path))) names.push_back(s.name);
  return names;
}

CsvTable read_xlsx(const std::string& path, const std::vector<std::string>& sheet_names) {
  const Workbook wb(path);
  const std::vector<SheetRef> sheets = sheets_of(wb);
  const SheetRef* sheet = &sheets[0];
  for (auto want = sheet_names.rbegin(); want != sheet_names.rend(); ++want)  // the first name listed wins
    for (const auto& s : sheets)
      if (equal_ci(s.name, *want)) sheet = &s;
  CsvTable t;
  t.name = path + " [sheet '" + sheet->name + "']";
  const Grid grid = read_cells(wb.required(sheet->part), t.name, shared_strings(wb));
  bool have_header = false;
  for (const auto& [row, cells] : grid) {
    if (!have_header) {
      t.header.assign(size_t(cells.rbegin()->first + 1), "");
      for (const auto& [c, v] : cells) t.header[size_t(c)] = trim(v);
      have_header = true;
      continue;
    }
    std::vector<std::string> fields(t.header.size());
    bool any = false;
    for (const auto& [c, v] : cells)
      if (size_t(c) < fields.size()) fields[size_t(c)] = trim(v), any = any || !fields[size_t(c)].empty();
    if (!any) continue;
    t.rows.push_back(std::move(fields));
    t.row_lines.push_back(int(row));
  }
  IQA_CHECK(have_header, t.name, ": the sheet is empty");
  return t;
}

#endif  // IQA_HAVE_XLSX

}  // namespace iqa
