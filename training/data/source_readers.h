// Internal to make-splits' readers (split_sources*.cpp): the helpers they share and the per-dataset
// readers, grouped by file: split_sources.cpp (the protocols' authentic sets and load_source),
// split_sources_official.cpp (the .mat containers),
// split_sources_synthetic.cpp, split_sources_extra.cpp (sets the reference uses for extra tests).
#pragma once
#include <string>
#include <vector>

#include "training/data/csv.h"
#include "training/data/splits.h"

namespace iqa::source {

std::string lower(std::string s);
// Cell (row, col) as a finite number; the error names the file, line and column.
double number_at(const CsvTable& t, size_t row, size_t col);
// A whole number in lo..hi (a category, a distortion level), or an error naming the file, line, column
// and value: checked before the conversion, which for a value out of int's range is undefined
// (tests/fuzz found an EVA category of 6.7e101: regressions/fuzz_score_files/category_out_of_int).
int integer_at(const CsvTable& t, size_t row, size_t col, int lo, int hi);
std::string basename_of(const std::string& p);
const std::string& single_scores_file(const std::string& dataset, const SourceFiles& f);
// domain_names[base + i] = names[i] for every id the listing uses.
void name_domains(DatasetList& list, int base, const std::vector<std::string>& names);
// The folder prefix of a dataset's images for files.path_style (or files.image_prefix when set).
std::string prefix_of(const std::string& dataset, const SourceFiles& files);

// split_sources_official.cpp: the .mat files as tables (image, mos / image, reference, dmos); the
// table's name and row numbers locate a bad value (file + element index).
bool mat_sources(const SourceFiles& f);  // any --scores file is a .mat
CsvTable livec_table(const SourceFiles& f);
CsvTable live_table(const SourceFiles& f);

// split_sources_synthetic.cpp
SourceData load_kadid(const SourceFiles& f);
SourceData load_csiq(const SourceFiles& f);
SourceData load_live(const SourceFiles& f);
SourceData load_tid2013(const SourceFiles& f);
SourceData load_pipal(const SourceFiles& f);
// split_sources_extra.cpp
SourceData load_ava(const SourceFiles& f);
SourceData load_nnid(const SourceFiles& f);
SourceData load_piq23(const SourceFiles& f);
SourceData load_agiqa3k(const SourceFiles& f);

}  // namespace iqa::source
