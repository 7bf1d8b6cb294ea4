// IQA dataset listings in SIND's data_json format (shared/spec/sind.md §5.2), the registry of known
// datasets (domain-id bases, score scales, directions), and the check run before training that every
// listed image exists and its header decodes.
//
// A listing file looks like
//   {"files": [{"image": "koniq10k/1024x768/1.jpg", "score": 77.4, "domain_id": 304, "scene": "Landscape"},
//              ...],
//    "domain_name": {"304": "Landscape", ...}}          <- optional
// Only image, score and domain_id are required and checked (SIND reads only those); scene, dist_type,
// reference and domain_name are optional, informational, and never an error (see warnings); they are
// carried through (make-splits writes them; reference groups images of the same
// pristine content so random splits can keep contents disjoint). Image paths are relative to a data
// root, as SIND joins them with './data'.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "training/image/decode.h"

namespace iqa {

struct DatasetEntry {
  std::string image;      // relative to the data root
  double score = 0;       // raw score on the dataset's own scale (DatasetInfo)
  int domain_id = 0;      // scene / distortion / content domain; dataset = the registry entry owning it
  std::string scene;      // optional label, informational
  std::string dist_type;  // optional, synthetic datasets
  std::string reference;  // optional pristine-content name, synthetic datasets
};

struct DatasetList {
  std::vector<DatasetEntry> entries;
  std::map<int, std::string> domain_names;  // optional "domain_name" table
  // Informational fields that could not be used and were skipped (parse_data_json never fails on the
  // fields SIND does not read: scene, dist_type, reference, domain_name).
  std::vector<std::string> warnings;
};

// Parses a listing. `name` (normally the file's path) starts every error message, followed by the
// JSON location, e.g. "train.json: files[12].score: expected a number, got string".
DatasetList parse_data_json(const std::string& text, const std::string& name);
// Reads a file and prints its warnings (at most 3 and a count) to stderr as "warning: ...".
DatasetList read_data_json(const std::string& path);
// nullopt when `path` does not exist, after printing "note: <path> does not exist: <note>" to stderr
// (note "" prints nothing). For optional parts such as a random split's val.json: the reference's EVA
// folds have only train and test, and the reference never reads val at all.
std::optional<DatasetList> read_data_json_if_present(const std::string& path, const std::string& note = "");
// Serialised with 1 entry per line (diff-friendly); parse_data_json(to_data_json(x)) == x.
std::string to_data_json(const DatasetList& list);
void write_data_json(const std::string& path, const DatasetList& list);

// ---- The registry -----------------------------------------------------------------------------------
enum class ScoreDirection { HigherIsBetter, LowerIsBetter };

struct DatasetInfo {
  std::string name;           // "koniq10k"
  int domain_base = 0;        // first domain id (sind.md §5.2)
  int domain_end = 0;         // one past the last id the dataset owns
  double score_min = 0, score_max = 0;  // nominal scale of the raw scores SIND stores
  ScoreDirection direction = ScoreDirection::HigherIsBetter;
  bool synthetic = false;     // distorted copies of pristine references (splits keep contents disjoint)
  std::string score_name;     // what the score is: "MOS_zscore", "dmos_realigned", ...
};

// Every known dataset, by increasing domain_base.
const std::vector<DatasetInfo>& dataset_registry();
// Throws iqa::Error listing the known names when `name` is not one of them.
const DatasetInfo& dataset_info(const std::string& name);
// The dataset whose id range [domain_base, domain_end) holds domain_id (BID owns 400..449, CID2013
// 450..499, nnid 1400..1499); null for ids no dataset owns (negative, 1000..1099, >= 2000).
const DatasetInfo* dataset_for_domain(int domain_id);

// ---- Validation ------------------------------------------------------------------------------------
struct DomainSummary {
  int domain_id = 0;
  std::string name;  // from domain_names, else the first entry's scene label, else ""
  int64_t count = 0;
  double score_min = 0, score_max = 0;
};

struct DatasetSummary {
  int64_t count = 0;
  double score_min = 0, score_max = 0, score_mean = 0;
  std::vector<DomainSummary> domains;  // by increasing domain_id
  int64_t outside_nominal_range = 0;   // scores outside their registry dataset's nominal scale
};

// Counts and score ranges only, no file access.
DatasetSummary summarize_dataset(const DatasetList& list);
// Human-readable, one domain per line.
std::string format_summary(const DatasetSummary& s);

// Checks the listing before training: non-empty, finite scores, every file exists under data_root and
// its header decodes within opts.max_pixels (probe_image, run on `threads` threads; 0 = hardware).
// Throws one iqa::Error that lists every problem found (named by `name`, entry index and path).
// Returns the summary on success.
DatasetSummary validate_dataset(const DatasetList& list, const std::string& data_root, const std::string& name,
                                const DecodeOptions& opts = {}, int threads = 0);

// data_root joined with a listed image path ("" root: the path as is).
std::string resolve_image_path(const std::string& data_root, const std::string& image);

}  // namespace iqa
