// A small delimited-text reader for the datasets' score files (KonIQ, KADID, PARA, EVA, CSV exports of
// the .xlsx/.mat sheets). RFC 4180 quoting ("a,b" and "" escapes), CRLF or LF line ends, a UTF-8 BOM,
// blank lines ignored. Errors name the file and the line.
#pragma once
#include <string>
#include <vector>

namespace iqa {

struct CsvTable {
  std::string name;                 // the file, for messages
  std::vector<std::string> header;  // first non-blank line, fields trimmed
  std::vector<std::vector<std::string>> rows;  // fields trimmed; each row has header.size() fields
  std::vector<int> row_lines;       // 1-based source line of each row

  // Index of the first header field equal (ASCII case-insensitive) to one of `names`; throws an
  // iqa::Error naming the file, the wanted names and the columns present when none matches.
  size_t column(const std::vector<std::string>& names) const;
  // Same, but returns -1 instead of throwing.
  long find_column(const std::vector<std::string>& names) const;
};

// delimiter 0: chosen from the header line among ',', ';', '\t', '=' and '|' (the most frequent outside
// quotes; EVA's votes file uses '='). Rows shorter than the header are an error; trailing empty
// fields beyond the header are tolerated (spreadsheet exports).
CsvTable parse_csv(const std::string& text, const std::string& name, char delimiter = 0);
CsvTable read_csv(const std::string& path, char delimiter = 0);

// Whole text file (score lists, test lists); throws naming the path.
std::string read_text(const std::string& path);
// Lines without their ends, blank lines dropped, each trimmed.
std::vector<std::string> split_lines(const std::string& text);

}  // namespace iqa
