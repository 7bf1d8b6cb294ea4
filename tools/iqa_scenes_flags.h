// iqa-scenes' command line, registered here rather than in its main so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the tool does, without loading CLIP.
#pragma once
#include <CLI/CLI.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "models/clip_scenes.h"
#include "tools/cli_choice.h"
#include "tools/output_format.h"
#include "training/data/dataset.h"

namespace iqa {

struct IqaScenesArgs {
  std::string checkpoint, vocab, data_json, data_root = ".", list_file, out, labels_arg,
      prompt = "a photo of {label}", dataset;
  training::DeviceChoice device = training::DeviceChoice::Auto;
  tools::OutputFormat format = tools::OutputFormat::Auto;
  std::vector<std::string> inputs;
  int domain_base = -1, batch = 32;
  // Set by finish_iqa_scenes_args: the scene names and the domain id of the first.
  std::vector<std::string> labels;
  int base = 0;
};

inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

inline void add_iqa_scenes_flags(CLI::App& app, IqaScenesArgs& a) {
  training::add_checkpoint_and_images(app, a.checkpoint, a.inputs,
                                      "CLIP weights as safetensors: OpenCLIP/OpenAI or Hugging Face CLIPModel names (ViT-B-32)");
  app.add_option("--list", a.list_file, "a text file with one image path per line");
  app.add_option("--data_json", a.data_json, "a data_json listing to label (image paths under --data_root)");
  app.add_option("--data_root", a.data_root, "root of the listing's image paths")->capture_default_str();
  app.add_option("--vocab", a.vocab, "bpe_simple_vocab_16e6.txt.gz (default: .deps/clip/, tools/fetch_clip_vocab.sh)");
  app.add_option("--labels", a.labels_arg, "comma-separated scene names (default: SPAQ's nine)");
  app.add_option("--prompt", a.prompt, "prompt template; {label} is replaced")->capture_default_str();
  app.add_option("--dataset", a.dataset,
                 "registry name giving the id base (koniq10k: 300, and the reference's "
                 "eight KonIQ labels without 'Others')");
  app.add_option("--domain-base", a.domain_base, "first domain id (overrides --dataset's; default 0)");
  app.add_option("--out", a.out, "write to this file instead of stdout");
  training::add_choice(app, "--format", a.format, "auto (json for an --out ending in .json, else csv) | csv | json");
  app.add_option("--batch", a.batch, "images per forward")->capture_default_str();
  training::add_choice(app, "--device", a.device, "auto | cpu | cuda");
}

// Checks the values and resolves the labels and the id base; throws iqa::Error.
inline void finish_iqa_scenes_args(IqaScenesArgs& a) {
  IQA_CHECK(a.batch > 0, "iqa-scenes: --batch must be positive");
  IQA_CHECK(a.prompt.find("{label}") != std::string::npos, "iqa-scenes: --prompt must contain {label}");
  a.labels = a.labels_arg.empty() ? models::spaq_scene_labels() : split_commas(a.labels_arg);
  a.base = 0;
  if (!a.dataset.empty()) {
    a.base = dataset_info(a.dataset).domain_base;
    // The reference labelled KonIQ with Others commented out, hence its 300-307 (sind.md §5.3).
    if (a.dataset == "koniq10k" && a.labels_arg.empty()) a.labels.pop_back();
  }
  if (a.domain_base >= 0) a.base = a.domain_base;
  IQA_CHECK(!a.labels.empty(), "iqa-scenes: no labels");
}

}  // namespace iqa
