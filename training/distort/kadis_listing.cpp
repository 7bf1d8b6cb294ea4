// KADIS-style sample listings (see dsmix_data.h): KADIS-700k's own layout, iqa-distort's CSV, and a
// folder of references distorted on the fly.
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <unordered_map>

#include "training/data/csv.h"
#include "training/data/dataset.h"
#include "training/distort/distort.h"
#include "training/distort/set.h"
#include "training/dsmix/data.h"

namespace iqa::training {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMissingListed = 20;  // missing files named in the error; the rest are counted

std::string join(const std::string& dir, const std::string& name) { return resolve_image_path(dir, name); }

// An integer field in [lo, hi]; the error names the file, its line and the column.
int parse_int_field(const CsvTable& t, size_t row, size_t column, int lo, int hi) {
  const std::string& s = t.rows[row][column];
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  IQA_CHECK(ec == std::errc() && end == s.data() + s.size() && v >= lo && v <= hi, t.name, ":",
            t.row_lines[row], ": ", t.header[column], " '", s, "' is not an integer in ", lo, "..", hi);
  return v;
}

void add_pristine_samples(KadisSet& set) {
  for (size_t r = 0; r < set.references.size(); ++r) set.samples.push_back({set.references[r], int64_t(r), 0, 0});
}

// Every reference and sample file must exist under set.root; one error lists what is missing (the first
// kMissingListed in listing order, then a count). `hint` is appended when non-empty.
void check_listed_files(const KadisSet& set, const std::string& what, const std::string& hint) {
  std::vector<std::string> files = set.references;
  for (const KadisSample& s : set.samples)
    if (!s.image.empty() && s.type != 0) files.push_back(s.image);  // pristine samples are references
  std::vector<char> missing(files.size(), 0);
  // Hundreds of thousands of stat() calls on a network file system: spread them over the cores.
#pragma omp parallel for schedule(dynamic, 1024)
  for (int64_t i = 0; i < int64_t(files.size()); ++i) {
    std::error_code ec;
    missing[size_t(i)] = fs::is_regular_file(join(set.root, files[size_t(i)]), ec) ? 0 : 1;
  }
  std::string listed;
  size_t count = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!missing[i]) continue;
    if (count < kMissingListed) listed += cat("\n  ", join(set.root, files[i]));
    ++count;
  }
  if (count == 0) return;
  fail(cat(what, ": ", count, " of the ", files.size(), " listed files ", count == 1 ? "is" : "are", " missing:",
           listed, count > kMissingListed ? cat("\n  ... and ", count - kMissingListed, " more") : std::string(),
           hint.empty() ? "" : "\n", hint));
}

}  // namespace

KadisSet read_kadis_layout(const KadisLayout& layout) {
  const std::string csv_path = join(layout.root, layout.csv);
  const CsvTable t = read_csv(csv_path);
  const size_t ref_col = t.column({"ref_im"});
  const size_t type1_col = t.column({"dist_type_1"});
  const long type2_col = t.find_column({"dist_type_2"});
  IQA_CHECK(!t.rows.empty(), csv_path, ": no rows below the header");

  KadisSet set;
  set.root = layout.root;
  int64_t type8_rows = 0;
  for (size_t row = 0; row < t.rows.size(); ++row) {
    const std::string& ref = t.rows[row][ref_col];
    IQA_CHECK(!ref.empty(), csv_path, ":", t.row_lines[row], ": empty ref_im");
    const int type1 = parse_int_field(t, row, type1_col, 1, kNumDistortionTypes);
    int type2 = 0;
    if (type2_col >= 0 && !t.rows[row][size_t(type2_col)].empty())
      type2 = parse_int_field(t, row, size_t(type2_col), 1, kNumDistortionTypes);
    // Spec §2: column 2 never says 8; about half its type-7 rows carry 8 in dist_type_2.
    int type = type1;
    if (layout.type8 == KadisType8::WithType8 && type1 == 7 && type2 == 8) {
      type = 8;
      ++type8_rows;
    }
    const int64_t r = int64_t(set.references.size());
    set.references.push_back(join(layout.ref_dir, ref));
    // The official script names outputs after the text before the first '.' (MATLAB split(name, '.')).
    const std::string stem = ref.substr(0, ref.find('.'));
    for (int level = 1; level <= kNumDistortionLevels; ++level)
      set.samples.push_back({join(layout.dist_dir, distorted_image_name(stem, type, level, layout.dist_ext)), r,
                             type, level});
  }
  if (layout.include_references) add_pristine_samples(set);
  if (layout.check_files)
    check_listed_files(
        set, cat("KADIS layout ", csv_path),
        type8_rows == 0 ? ""
                        : cat(type8_rows, " rows have dist_type_1 = 7 and dist_type_2 = 8 and are read as type 8 (",
                              "`<name>_08_<level>.", layout.dist_ext, "`); the official generation script writes ",
                              "type 7 for them. Read the set literally (KadisType8::Literal) if it was made that way."));
  return set;
}

KadisSet read_distort_csv(const std::string& csv_path, const std::string& reference_dir, bool include_references) {
  const CsvTable t = read_csv(csv_path);
  const size_t image_col = t.column({"image"});
  const size_t ref_col = t.column({"reference"});
  const size_t type_col = t.column({"type"});
  const size_t level_col = t.column({"level"});
  IQA_CHECK(!t.rows.empty(), csv_path, ": no rows below the header");
  // Images are listed relative to the CSV's folder (iqa-distort writes them side by side).
  const std::string image_dir = fs::path(csv_path).parent_path().string();

  KadisSet set;  // root "": every path below is complete
  std::unordered_map<std::string, int64_t> reference_index;
  for (size_t row = 0; row < t.rows.size(); ++row) {
    const std::string& image = t.rows[row][image_col];
    const std::string& ref = t.rows[row][ref_col];
    IQA_CHECK(!image.empty() && !ref.empty(), csv_path, ":", t.row_lines[row], ": empty image or reference");
    const int type = parse_int_field(t, row, type_col, 1, kNumDistortionTypes);
    const int level = parse_int_field(t, row, level_col, 1, kNumDistortionLevels);
    auto [it, added] = reference_index.emplace(ref, int64_t(set.references.size()));
    if (added) set.references.push_back(join(reference_dir, ref));
    set.samples.push_back({join(image_dir, image), it->second, type, level});
  }
  if (include_references) add_pristine_samples(set);
  check_listed_files(set, cat("iqa-distort listing ", csv_path, " (references in ", reference_dir, ")"), "");
  return set;
}

KadisSet plan_on_the_fly(const std::string& reference_dir, const std::vector<int>& types,
                         const std::vector<int>& levels, int types_per_image, uint64_t seed,
                         bool include_references) {
  std::vector<int> all_types = types, all_levels = levels;
  if (all_types.empty())
    for (int t = 1; t <= kNumDistortionTypes; ++t) all_types.push_back(t);
  if (all_levels.empty())
    for (int l = 1; l <= kNumDistortionLevels; ++l) all_levels.push_back(l);
  for (int t : all_types)
    IQA_CHECK(t >= 1 && t <= kNumDistortionTypes, "plan_on_the_fly: no distortion type ", t);
  for (int l : all_levels)
    IQA_CHECK(l >= 1 && l <= kNumDistortionLevels, "plan_on_the_fly: no distortion level ", l);
  IQA_CHECK(types_per_image >= 0, "plan_on_the_fly: types_per_image must be >= 0, got ", types_per_image);

  KadisSet set;
  set.root = reference_dir;
  set.on_the_fly = true;
  set.references = list_reference_images(reference_dir);
  IQA_CHECK(!set.references.empty(), "plan_on_the_fly: no .jpg/.png/.bmp images in ", reference_dir);
  for (size_t r = 0; r < set.references.size(); ++r)
    for (int t : types_for_reference(set.references[r], all_types, types_per_image, seed))
      for (int l : all_levels) set.samples.push_back({"", int64_t(r), t, l});
  if (include_references) add_pristine_samples(set);
  return set;
}

}  // namespace iqa::training
