// Reading one sheet of an Office Open XML workbook (.xlsx: a zip of XML parts) into the same table
// the CSV reader gives, so make-splits takes SPAQ's, BID's and CID2013's sheets as their authors ship
// them. libzip opens the archive, libexpat parses the parts; numbers keep the text stored in the
// file (Excel's 17 significant digits, so they parse to the value pandas reads), shared and inline
// strings become their text. Errors name the file, the sheet and the row.
#pragma once
#include <string>
#include <vector>

#include "training/data/csv.h"

namespace iqa {

// The sheet called one of `sheet_names` (case-insensitive), else the workbook's first sheet. The
// header is the first non-blank row, cells right of the header's last cell are ignored (notes beside
// a table), blank rows are dropped; row_lines holds the sheet's row numbers. The table's name is
// "<path> [sheet '<name>']", so every reader's messages name the sheet.
CsvTable read_xlsx(const std::string& path, const std::vector<std::string>& sheet_names = {});

// The sheet names in workbook order.
std::vector<std::string> xlsx_sheet_names(const std::string& path);

// A score table by file type: .xlsx through read_xlsx, anything else through read_csv.
CsvTable read_score_table(const std::string& path, const std::vector<std::string>& sheet_names = {});

// Whether this build can read .xlsx files (libzip and libexpat were found at configure time);
// without them read_xlsx throws saying so.
bool xlsx_supported();

}  // namespace iqa
