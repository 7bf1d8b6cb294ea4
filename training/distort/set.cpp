// KADIS-style set generation (see distort_set.h).
#include "engine/atomic_file.h"
#include "training/distort/set.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "kernels/philox.h"
#include "training/image/decode.h"
#include "training/distort/distort.h"
#include "training/image/encode.h"

namespace iqa {

namespace fs = std::filesystem;

namespace {

// FNV-1a: a stable 64-bit id for a file name, so a reference's random streams do not depend on which
// other files share its folder.
uint64_t name_hash(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

struct Row {
  std::string image, reference;
  int type, level;
};

std::string joined(const std::vector<int>& ids) {
  std::string s;
  for (int id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

std::string first_line_differing(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  while (true) {
    const bool more_a = bool(std::getline(sa, la)), more_b = bool(std::getline(sb, lb));
    if (!more_a && !more_b) return "";
    if (!more_a || !more_b || la != lb) return cat("'", more_a ? la : "", "' there, '", more_b ? lb : "", "' now");
  }
}

// The time before which images in the output folder are not this run's (nor a resumed one's):
// a fresh start records its options; a resume checks them and keeps that record's time.
fs::file_time_type start_or_resume(const DistortSetOptions& opts) {
  const std::string path = (fs::path(opts.output_dir) / ".iqa-distort-options").string();
  const std::string wanted = distort_options_record(opts);
  if (opts.resume && fs::exists(path)) {
    std::ifstream f(path, std::ios::binary);
    const std::string had((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    IQA_CHECK(had == wanted, "iqa-distort --resume: ", path, " records the options of the run that made the images ",
              "there (", first_line_differing(had, wanted), "); resume with the same options, or run without ",
              "--resume to make every image again");
    return fs::last_write_time(path);
  }
  write_file_atomically(path, wanted, "iqa-distort");
  return fs::last_write_time(path);
}

}  // namespace

std::string distort_options_record(const DistortSetOptions& opts) {
  return cat("iqa-distort options 1\nseed ", opts.seed, "\nformat ", opts.format, "\ntypes ", joined(opts.types),
             "\nlevels ", joined(opts.levels), "\ntypes_per_image ", opts.types_per_image, "\n");
}

std::vector<std::string> list_reference_images(const std::string& dir) {
  IQA_CHECK(fs::is_directory(dir), "iqa-distort: input folder ", dir, " does not exist or is not a folder");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && image_format_from_extension(entry.path().string()) != ImageFormat::Unknown)
      files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<int> parse_id_list(const std::string& spec, int lo, int hi, bool names) {
  std::vector<int> ids;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    int a = 0, b = 0;
    char tail = 0;
    if (std::sscanf(item.c_str(), "%d-%d%c", &a, &b, &tail) == 2) {
    } else if (std::sscanf(item.c_str(), "%d%c", &a, &tail) == 1) {
      b = a;
    } else if (names && distortion_from_name(item.c_str()) != 0) {
      a = b = distortion_from_name(item.c_str());
    } else {
      fail(cat("cannot read '", item, "' in '", spec, "': expected a number, a range like 3-7",
               names ? " or a distortion name" : ""));
    }
    IQA_CHECK(a >= lo && b <= hi && a <= b, "'", item, "' is outside ", lo, "..", hi);
    for (int i = a; i <= b; ++i) ids.push_back(i);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  IQA_CHECK(!ids.empty(), "'", spec, "' selects nothing");
  return ids;
}

std::string distorted_image_name(const std::string& stem, int type, int level, const std::string& ext) {
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), "_%02d_%02d.", type, level);
  return stem + suffix + ext;
}

std::vector<int> types_for_reference(const std::string& file_name, const std::vector<int>& types,
                                     int types_per_image, uint64_t seed) {
  if (types_per_image <= 0 || types_per_image >= int(types.size())) return types;
  // Partial Fisher-Yates shuffle driven by Philox keyed on (seed, file name).
  std::vector<int> pool = types;
  const uint64_t key = distortion_seed(seed, name_hash(file_name), 0, 0);
  for (int i = 0; i < types_per_image; ++i) {
    const int remaining = int(pool.size()) - i;
    const int j = i + std::min(remaining - 1, int(philox::uniform(key, uint64_t(i)) * float(remaining)));
    std::swap(pool[size_t(i)], pool[size_t(j)]);
  }
  pool.resize(size_t(types_per_image));
  std::sort(pool.begin(), pool.end());
  return pool;
}

DistortSetResult generate_distorted_set(const DistortSetOptions& opts,
                                        const std::function<void(const DistortSetProgress&)>& on_progress) {
  IQA_CHECK(opts.format == "bmp" || opts.format == "png", "iqa-distort: --format must be bmp or png, got ",
            opts.format);
  DistortSetOptions filled = opts;
  std::vector<int>&types = filled.types, &levels = filled.levels;
  if (types.empty())
    for (int t = 1; t <= kNumDistortionTypes; ++t) types.push_back(t);
  if (levels.empty())
    for (int l = 1; l <= kNumDistortionLevels; ++l) levels.push_back(l);
  for (int t : types) IQA_CHECK(t >= 1 && t <= kNumDistortionTypes, "iqa-distort: no distortion type ", t);
  for (int l : levels) IQA_CHECK(l >= 1 && l <= kNumDistortionLevels, "iqa-distort: no distortion level ", l);

  const std::vector<std::string> files = list_reference_images(opts.input_dir);
  IQA_CHECK(!files.empty(), "iqa-distort: no .jpg/.png/.bmp images in ", opts.input_dir);
  fs::create_directories(opts.output_dir);
  const fs::file_time_type started = start_or_resume(filled);

  std::vector<std::vector<Row>> rows(files.size());  // per reference, so the CSV order is stable
  std::atomic<bool> failed{false};
  std::string first_error;
  DistortSetResult result;
  result.references = files.size();
  size_t done = 0;

#pragma omp parallel for schedule(dynamic, 1)
  for (size_t f = 0; f < files.size(); ++f) {
    if (failed.load()) continue;
    const std::string& name = files[f];
    DistortSetProgress progress;
    progress.reference = name;
    try {
      std::optional<ImageF> ref;  // decoded only when an image is to be made
      const std::string stem = fs::path(name).stem().string();
      for (int t : types_for_reference(name, types, opts.types_per_image, opts.seed))
        for (int l : levels) {
          const std::string out_name = distorted_image_name(stem, t, l, opts.format);
          const std::string out_path = (fs::path(opts.output_dir) / out_name).string();
          rows[f].push_back({out_name, name, t, l});
          std::error_code ec;
          if (opts.resume && fs::last_write_time(out_path, ec) >= started && !ec) {
            ++progress.kept;
            continue;
          }
          if (!ref) ref = to_float(decode_image((fs::path(opts.input_dir) / name).string(), DecodeOptions{}));
          const ImageU8 out = to_u8(kadis_distort(*ref, t, l, distortion_seed(opts.seed, name_hash(name), t, l)));
          if (opts.format == "bmp") write_bmp(out_path, out);
          else write_png(out_path, out);
          ++progress.written;
        }
    } catch (const std::exception& e) {
      rows[f].clear();
      progress.written = progress.kept = 0;
      if (!opts.skip_bad_images) {
#pragma omp critical(distort_set_error)
        if (!failed.exchange(true)) first_error = e.what();
        continue;
      }
      progress.skipped_reason = e.what();
    }
#pragma omp critical(distort_set_progress)
    {
      progress.done = ++done;
      progress.total = files.size();
      result.images_written += size_t(progress.written);
      result.images_kept += size_t(progress.kept);
      if (!progress.skipped_reason.empty()) ++result.skipped;
      if (on_progress) on_progress(progress);
    }
  }
  IQA_CHECK(!failed.load(), first_error);

  result.csv_path = (fs::path(opts.output_dir) / opts.csv_name).string();
  std::string csv = "image,reference,type,level\n";
  for (const auto& per_ref : rows)
    for (const Row& r : per_ref)
      csv += csv_field(r.image) + ',' + csv_field(r.reference) + ',' + std::to_string(r.type) + ',' +
             std::to_string(r.level) + '\n';
  write_file_atomically(result.csv_path, csv, "iqa-distort");
  return result;
}

}  // namespace iqa
