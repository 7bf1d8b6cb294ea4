// Delimited-text reading (see csv.h).
#include "training/data/csv.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace iqa {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

char guess_delimiter(const std::string& text) {
  const std::string candidates = ",;\t=|";
  std::vector<int> counts(candidates.size(), 0);
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '\n' || c == '\r')) break;
    size_t k = candidates.find(c);
    if (!quoted && k != std::string::npos) ++counts[k];
  }
  size_t best = 0;
  for (size_t k = 1; k < counts.size(); ++k)
    if (counts[k] > counts[best]) best = k;
  return candidates[best];  // a one-column file has none: ',' is as good as any
}

}  // namespace

long CsvTable::find_column(const std::vector<std::string>& names) const {
  for (const std::string& want : names)
    for (size_t i = 0; i < header.size(); ++i)
      if (iequals(header[i], want)) return long(i);
  return -1;
}

size_t CsvTable::column(const std::vector<std::string>& names) const {
  long i = find_column(names);
  if (i >= 0) return size_t(i);
  std::string wanted, present;
  for (const std::string& n : names) wanted += (wanted.empty() ? "'" : " or '") + n + "'";
  for (const std::string& h : header) present += (present.empty() ? "" : ", ") + h;
  fail(cat(name, ": no column ", wanted, " (columns: ", present, ")"));
}

CsvTable parse_csv(const std::string& input, const std::string& name, char delimiter) {
  std::string text = input;
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM from spreadsheet exports
  const char delim = delimiter ? delimiter : guess_delimiter(text);

  CsvTable t;
  t.name = name;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, any = false;
  int line = 1, record_line = 1;
  auto end_record = [&] {
    fields.push_back(trim(field));
    field.clear();
    bool blank = fields.size() == 1 && fields[0].empty() && !any;
    if (!blank) {
      if (t.header.empty() && t.rows.empty()) {
        t.header = fields;
      } else {
        while (fields.size() > t.header.size() && fields.back().empty()) fields.pop_back();
        IQA_CHECK(fields.size() == t.header.size(), name, ":", record_line, ": expected ", t.header.size(),
                  " fields (as the header), got ", fields.size());
        t.rows.push_back(fields);
        t.row_lines.push_back(record_line);
      }
    }
    fields.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == delim) {
      fields.push_back(trim(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      record_line = ++line;
    } else {
      field += c;
    }
  }
  IQA_CHECK(!quoted, name, ":", record_line, ": unterminated quoted field");
  if (!field.empty() || !fields.empty() || any) end_record();
  IQA_CHECK(!t.header.empty(), name, ": empty file (no header line)");
  return t;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  IQA_CHECK(in, path, ": cannot open for reading");
  std::ostringstream os;
  os << in.rdbuf();
  IQA_CHECK(!in.bad(), path, ": read error");
  return os.str();
}

CsvTable read_csv(const std::string& path, char delimiter) { return parse_csv(read_text(path), path, delimiter); }

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace iqa
