// Generating a KADIS-style distorted set from a folder of reference images (what tools/iqa-distort
// runs): every reference gets the selected distortion types at the selected levels through the KADIS
// wrapper (kadis_distort), written as `<name>_<type:02d>_<level:02d>.<ext>`, plus a CSV listing
// image, reference, type and level.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace iqa {

struct DistortSetOptions {
  std::string input_dir, output_dir;
  std::vector<int> types;   // empty: all 25
  std::vector<int> levels;  // empty: 1..5
  uint64_t seed = 0;
  std::string format = "bmp";  // bmp (as KADIS ships) or png
  // 0: every selected type for every image. n > 0: n distinct types per image, drawn from the selected
  // ones by the seed and the file name (KADIS-700k uses one type per reference).
  int types_per_image = 0;
  bool skip_bad_images = false;     // false: the first undecodable reference stops the run
  std::string csv_name = "distortions.csv";
  // Keep the images an interrupted run with the same options already wrote. A run starts by writing
  // its options to <output_dir>/.iqa-distort-options; a resumed run checks them against its own and
  // keeps each image written since (newer than that file: images of an earlier run with other
  // options are made again). Every image there is whole, as images are renamed into place.
  bool resume = false;
};

struct DistortSetProgress {
  size_t done = 0, total = 0;  // references finished (written or skipped) / to do
  std::string reference;       // the one just finished
  int written = 0;             // images written for it (0 when skipped)
  int kept = 0;                // images a resumed run found already made
  std::string skipped_reason;  // non-empty when it was skipped
};

struct DistortSetResult {
  size_t references = 0, images_written = 0, images_kept = 0, skipped = 0;
  std::string csv_path;
};

// Files in `dir` whose extension is an image format (jpg/jpeg/jfif/png/bmp), sorted by name.
std::vector<std::string> list_reference_images(const std::string& dir);
// "1,3,7-9" (and, when `names` is true, distortion names like "jpeg2000") -> sorted unique ids in
// [lo, hi]. Throws iqa::Error naming the offending item.
std::vector<int> parse_id_list(const std::string& spec, int lo, int hi, bool names);
// `<stem>_<type:02d>_<level:02d>.<ext>`.
std::string distorted_image_name(const std::string& stem, int type, int level, const std::string& ext);
// The types one reference gets (see types_per_image); depends only on the seed and the file name.
std::vector<int> types_for_reference(const std::string& file_name, const std::vector<int>& types,
                                     int types_per_image, uint64_t seed);

// The options record a run writes first (see DistortSetOptions::resume), after the type and level
// defaults are filled in.
std::string distort_options_record(const DistortSetOptions& opts);

// Runs the whole set, references in parallel (OpenMP). `on_progress` is called once per reference,
// never concurrently. Throws iqa::Error naming the file for a bad reference unless skip_bad_images.
DistortSetResult generate_distorted_set(const DistortSetOptions& opts,
                                        const std::function<void(const DistortSetProgress&)>& on_progress = {});

}  // namespace iqa
