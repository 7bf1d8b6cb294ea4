// What tools/sind-score scores and how it writes the scores: image files and folders (every file whose
// content is an image, whatever its name; other files are ignored and counted), or a listing, labelled
// (the data_json format: SRCC / PLCC are printed) or image paths only (the format the reference's
// test script documents: {"files": [{"image": ...}]}, also a plain list of paths).
#pragma once
#include <string>
#include <vector>

#include "training/data/dataset.h"

namespace iqa::training {

struct ScoreInputs {
  DatasetList list;                  // entries' images are paths as given (folders: sorted, recursive)
  bool labelled = false;             // every entry has a score and a domain id
  std::vector<std::string> ignored;  // files in the folders that are not images (by extension and content)
};

// Files and folders. A folder's files with an image extension are listed (a corrupt one fails later,
// when it is scored, naming its reason); files with another extension are listed only when their first
// bytes are an image's.
ScoreInputs list_score_inputs(const std::vector<std::string>& inputs);

// A listing: labelled when every entry of 'files' has 'score' and 'domain_id' (read as data_json),
// else image paths only. Bad JSON or an entry without an image path throws naming the file and entry.
ScoreInputs read_score_listing(const std::string& path);

// One scored image (`score` is the model's, `calibrated` the training MOS scale's when asked for).
struct ScoreRow {
  std::string image;
  double score = 0;
  double calibrated = 0;
};
// CSV: "image,score[,calibrated]" then one row per image ("%.6f"); JSON: a list of objects with the
// same keys. Image paths containing a comma or a quote are quoted as RFC 4180 says.
std::string scores_csv(const std::vector<ScoreRow>& rows, bool calibrated);
std::string scores_json(const std::vector<ScoreRow>& rows, bool calibrated);

}  // namespace iqa::training
