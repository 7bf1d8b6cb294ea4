// Fuzz targets for the training side's parsers: score files, KADIS listings, splits, checkpoints.
// Included from tests/fuzz/targets.h (helpers and the first targets live there).
#pragma once
#include <cmath>
#include <cstring>

namespace iqa::fuzz {

// The datasets' CSV and TXT score files through load_source. The first byte picks the dataset; the
// rest is the score file, and text after a form feed ('\f') is the scene-label file (spaq, eva, ...).
// Every dataset with a score file is here; PIPAL's is a folder, so its score file is one training
// label file beside a Distortion_1/ holding A0001_00_00.bmp, and the text after '\f' its
// validation/val_label.txt.
inline int fuzz_score_files(const uint8_t* data, size_t size) {
  struct Source {
    const char* dataset;
    const char* file;  // the name some readers go by (PARA's says which split, NNID's which size)
  };
  static const Source kSources[] = {
      {"koniq10k", "scores.txt"}, {"spaq", "scores.txt"},    {"livec", "scores.txt"},
      {"bid", "scores.txt"},      {"cid2013", "scores.txt"}, {"kadid10k", "scores.txt"},
      {"csiq", "scores.txt"},     {"live", "scores.txt"},    {"tid2013", "scores.txt"},
      {"eva", "scores.txt"},      {"para", "PARA-GiaaTrain.csv"}, {"ava", "AVA.txt"},
      {"nnid", "mos1024_with_names.txt"}, {"piq23", "Scores_Overall.csv"}, {"agiqa3k", "data.csv"},
      {"pipal", "PIPAL/training/Train_Label/A0001.txt"}};
  if (size == 0) return 0;
  const Source& source = kSources[data[0] % (sizeof(kSources) / sizeof(kSources[0]))];
  const char* dataset = source.dataset;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t ff = text.find('\f');
  const std::string scores = text.substr(0, ff);
  const bool pipal = std::strcmp(dataset, "pipal") == 0;
  if (pipal) {
    std::filesystem::create_directories(scratch_dir() / "PIPAL/training/Train_Label");
    std::filesystem::create_directories(scratch_dir() / "PIPAL/training/Distortion_1");
    std::filesystem::create_directories(scratch_dir() / "PIPAL/validation");
    write_scratch("PIPAL/training/Distortion_1/A0001_00_00.bmp", "", 0);
    std::filesystem::remove(scratch_dir() / "PIPAL/validation/val_label.txt");
  }
  SourceFiles files;
  const std::string score_file = write_scratch(source.file, scores.data(), scores.size());
  files.scores = {pipal ? (scratch_dir() / "PIPAL").string() : score_file};
  if (ff != std::string::npos) {
    const std::string scenes = text.substr(ff + 1);
    const std::string name = pipal ? "PIPAL/validation/val_label.txt" : "scenes.csv";
    const std::string path = write_scratch(name, scenes.data(), scenes.size());
    if (!pipal) files.scenes = path;
  }
  try {
    SourceData s = load_source(dataset, files, 7);
    fuzz_require(s.official_split.empty() || s.official_split.size() == s.list.entries.size(),
                 "one official split label per entry");
    for (const DatasetEntry& e : s.list.entries) fuzz_require(std::isfinite(e.score), "every score is finite");
  } catch (const Error&) {
  }
  try {
    for (const std::string& line : split_lines(text)) fuzz_require(!line.empty(), "split_lines drops blank lines");
    parse_csv(scores, "<fuzz>", "\t;,|="[data[0] % 5]);
  } catch (const Error&) {
  }
  return 0;
}

// KADIS-700k's reference list (read_kadis_layout, files not checked), iqa-distort's CSV
// (read_distort_csv; the listed files do not exist, so a parse reaches that check and stops) and
// the type/level list syntax of the tools (parse_id_list), all on the same text.
inline int fuzz_kadis_listing(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  training::KadisLayout layout;
  layout.root = scratch_dir().string();
  write_scratch(layout.csv, data, size);
  layout.check_files = false;
  layout.type8 = (size > 0 && (data[0] & 1)) ? training::KadisType8::Literal : training::KadisType8::WithType8;
  try {
    training::KadisSet set = training::read_kadis_layout(layout);
    for (const auto& s : set.samples) {
      fuzz_require(s.reference >= 0 && size_t(s.reference) < set.references.size(), "sample reference in range");
      fuzz_require((s.type == 0 && s.level == 0) || (s.type >= 1 && s.type <= 25 && s.level >= 1 && s.level <= 5),
                   "sample type 1..25 and level 1..5, or pristine");
    }
  } catch (const Error&) {
  }
  try {
    const std::string csv = write_scratch("distortions.csv", data, size);
    training::read_distort_csv(csv, scratch_dir().string(), true);
  } catch (const Error&) {
  }
  try {
    for (int v : parse_id_list(text.substr(0, text.find('\n')), 1, 25, true))
      fuzz_require(v >= 1 && v <= 25, "parse_id_list stays in range");
  } catch (const Error&) {
  }
  return 0;
}

// The split protocols and their JSON: whatever listing parses is cut into leave-one-out folds and
// random splits; every part must be a partition of the listing and survive to_data_json ->
// parse_data_json with identical entries (a writer/reader mismatch aborts).
inline void require_round_trip(const DatasetList& part) {
  DatasetList back;
  try {
    back = parse_data_json(to_data_json(part), "<roundtrip>");
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fuzz_require(false, "a written split reads back");
  }
  fuzz_require(back.entries.size() == part.entries.size(), "round trip keeps the entry count");
  for (size_t i = 0; i < part.entries.size(); ++i) {
    const DatasetEntry &a = part.entries[i], &b = back.entries[i];
    fuzz_require(a.image == b.image && a.domain_id == b.domain_id && a.reference == b.reference &&
                     (a.score == b.score || (a.score != a.score && b.score != b.score)),
                 "round trip keeps image, domain, reference and score");
  }
}

inline int fuzz_splits(const uint8_t* data, size_t size) {
  DatasetList list;
  try {
    list = parse_data_json(std::string(reinterpret_cast<const char*>(data), size), "<fuzz>");
  } catch (const Error&) {
    return 0;
  }
  require_round_trip(list);
  try {
    for (const Fold& f : leave_one_out_folds(list)) {
      fuzz_require(f.train.entries.size() + f.test.entries.size() == list.entries.size(), "fold partitions");
      require_round_trip(f.train);
      require_round_trip(f.test);
    }
  } catch (const Error&) {
  }
  for (bool disjoint : {false, true}) {
    try {
      for (const Split& s : random_splits(list, disjoint, 2, size)) {
        fuzz_require(s.train.entries.size() + s.val.entries.size() + s.test.entries.size() == list.entries.size(),
                     "random split partitions");
        require_round_trip(s.train);
        require_round_trip(s.test);
      }
    } catch (const Error&) {
    }
  }
  return 0;
}

// The training-state part of a checkpoint (step, epoch, RNG, config), once alone and once with a
// tiny model (the strict state-dict check; seeds.h saves the same Linear(2, 1)), and the config reader.
inline int fuzz_checkpoint(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("input.ckpt.safetensors", data, size);
  for (bool with_model : {false, true}) {
    try {
      Generator rng;
      Linear model(2, 1);
      training::TrainingState state;
      state.rng = &rng;
      if (with_model) state.model = &model;
      training::load_checkpoint(path, state);
    } catch (const Error&) {
    }
  }
  try {
    training::read_checkpoint_config(path);
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace iqa::fuzz
