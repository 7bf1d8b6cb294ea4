// Scene labels from tools/iqa-scenes for make-splits --scene_labels: its CSV
// ("image,scene,domain_id,p_<label>...") or its JSON ([{"image", "scene", "domain_id", "probs"}]),
// applied to a dataset's listing so that leave-one-out and cross-set splits have scene domains for
// sets without official scene labels (KonIQ-10k, LIVE Challenge, BID, a user's own photos).
#pragma once
#include <map>
#include <string>

#include "training/data/dataset.h"

namespace iqa {

struct SceneLabelFile {
  std::string name;  // the file, for messages
  struct Label {
    int domain_id = 0;
    std::string scene;
  };
  std::map<std::string, Label> by_image;  // the image as iqa-scenes printed it
};

// Reads either form (JSON when the first non-blank character is '['). Errors name the file and
// the line or entry.
SceneLabelFile read_scene_label_file(const std::string& path);

// Sets each entry's domain_id and scene from the file and names the domains after the scenes (the
// listing's earlier domain names are dropped). An entry is matched by its listed path (iqa-scenes
// --data_json prints those), else by file name (iqa-scenes on a folder prints full paths); an entry
// with no label, or whose file name is labelled under two folders, is an error naming it.
void apply_scene_labels(DatasetList& list, const SceneLabelFile& labels);

}  // namespace iqa
