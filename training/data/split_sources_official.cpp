// The official score files of the datasets that ship MATLAB or Excel containers, read as tables for
// the loaders in split_sources*.cpp: LIVE Challenge's and LIVE release 2's .mat variables (as the
// reference's data_json_generator.py loads them with scipy.io.loadmat), and any .xlsx sheet.
#include <algorithm>
#include <cstdio>

#include "training/data/mat_reader.h"
#include "training/data/source_readers.h"
#include "training/data/xlsx_reader.h"

namespace iqa::source {
namespace {

bool is_mat(const std::string& p) { return lower(p).size() > 4 && lower(p).substr(p.size() - 4) == ".mat"; }

// The file among `files` that holds `variable` (LIVE's and LIVEC's two .mat files may come in any order).
std::string file_with(const std::string& dataset, const std::vector<std::string>& files, const std::string& variable) {
  for (const auto& f : files)
    if (is_mat(f)) {
      const auto vars = mat_variables(f);
      if (std::find(vars.begin(), vars.end(), variable) != vars.end()) return f;
    }
  std::string list;
  for (const auto& f : files) list += (list.empty() ? "" : ", ") + f;
  fail(cat(dataset, ": no --scores .mat file holds the variable '", variable, "' (given: ", list, ")"));
}

CsvTable table_named(const std::string& name, std::vector<std::string> header) {
  CsvTable t;
  t.name = name;
  t.header = std::move(header);
  return t;
}

void add_row(CsvTable& t, std::vector<std::string> fields) {
  t.rows.push_back(std::move(fields));
  t.row_lines.push_back(int(t.rows.size()));  // the element's 1-based index in the variables
}

std::string number_text(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);  // round-trips the double exactly
  return buf;
}

}  // namespace

bool mat_sources(const SourceFiles& f) { return std::any_of(f.scores.begin(), f.scores.end(), is_mat); }

// Data/AllImages_release.mat (AllImages_release: Nx1 cell of file names) and Data/AllMOS_release.mat
// (AllMOS_release: 1xN double), in their order: the reference's 1169 images, the 7 trial images included.
CsvTable livec_table(const SourceFiles& f) {
  const std::string images_file = file_with("livec", f.scores, "AllImages_release");
  const std::string mos_file = file_with("livec", f.scores, "AllMOS_release");
  const std::vector<std::string> images = mat_strings(images_file, "AllImages_release");
  const std::vector<double> mos = mat_numbers(mos_file, "AllMOS_release");
  IQA_CHECK(images.size() == mos.size(), "livec: ", images_file, " lists ", images.size(), " images (AllImages_release) but ",
            mos_file, " holds ", mos.size(), " scores (AllMOS_release)");
  CsvTable t = table_named(images_file + " + " + mos_file + " element", {"image", "mos"});
  for (size_t i = 0; i < images.size(); ++i) add_row(t, {images[i], number_text(mos[i])});
  return t;
}

// dmos_realigned.mat (dmos_new: 1x982 DMOS, orgs: 1x982, 1 for a reference's copy) and refnames_all.mat
// (refnames_all: 1x982 cell). Image i is the reference's hyperIQA order: jp2k img1..227, jpeg img1..233,
// wn, gblur and fastfading img1..174 each. References' copies (orgs = 1, DMOS 0) are kept, as the
// committed live listing holds all 982.
CsvTable live_table(const SourceFiles& f) {
  static const std::vector<std::pair<std::string, int>> folders = {
      {"jp2k", 227}, {"jpeg", 233}, {"wn", 174}, {"gblur", 174}, {"fastfading", 174}};
  const std::string dmos_file = file_with("live", f.scores, "dmos_new");
  const std::string ref_file = file_with("live", f.scores, "refnames_all");
  const std::vector<double> dmos = mat_numbers(dmos_file, "dmos_new");
  const std::vector<std::string> refs = mat_strings(ref_file, "refnames_all");
  IQA_CHECK(dmos.size() == 982, "live: ", dmos_file, ": variable 'dmos_new' holds ", dmos.size(),
            " values; LIVE release 2 has 982 (227 jp2k, 233 jpeg, 174 wn, gblur and fastfading)");
  IQA_CHECK(refs.size() == dmos.size(), "live: ", ref_file, ": variable 'refnames_all' holds ", refs.size(),
            " names, ", dmos_file, " has ", dmos.size(), " DMOS values");
  CsvTable t = table_named(dmos_file + " + " + ref_file + " element", {"image", "reference", "dmos_new"});
  size_t i = 0;
  for (const auto& [folder, count] : folders)
    for (int k = 1; k <= count; ++k, ++i)
      add_row(t, {folder + "/img" + std::to_string(k) + ".bmp", refs[i], number_text(dmos[i])});
  return t;
}

}  // namespace iqa::source
