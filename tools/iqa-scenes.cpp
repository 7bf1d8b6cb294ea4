// iqa-scenes: zero-shot scene labels with CLIP, as the SIND reference labels KonIQ-10k, LIVE Challenge and
// BID (shared/spec/sind.md §5.3, data_json/clip_based_scene_classify.py): prompts "a photo of {label}" over
// the SPAQ scene names, softmax of the image-text logits, argmax; domain_id = the dataset's base id + the
// label's index (KonIQ 300-307, LIVEC 200-208, BID 400-408).
// Inputs: image files or folders, --list (one path per line) or --data_json. Output: CSV
// "image,scene,domain_id,p_<label>..." (or --format json) to stdout or --out. Unreadable images are named
// on stderr and skipped (exit status 2). Preprocessing: short side to the model's input size, centre crop,
// CLIP's mean/std. The reference resizes bicubically; this resize is PIL's bilinear (antialiased), so
// labels of borderline images can differ from the reference's.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/autograd.h"
#include "engine/cuda_runtime.h"
#include "engine/safetensors.h"
#include "models/checkpoint_names.h"
#include "models/clip.h"
#include "models/clip_scenes.h"
#include "models/clip_tokenizer.h"
#include "training/data/dataset.h"
#include "training/image/augment.h"
#include "training/image/decode.h"
#include "tools/cli_choice.h"
#include "tools/tool_error.h"

using namespace iqa;
using namespace iqa::models;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<std::string> collect_images(const std::vector<std::string>& inputs, const std::string& list_file) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    if (!fs::is_directory(in)) {
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(in))
      if (e.is_regular_file() && image_format_from_extension(e.path().string()) != ImageFormat::Unknown)
        found.push_back(e.path().string());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  if (!list_file.empty()) {
    std::ifstream in(list_file);
    IQA_CHECK(in.good(), "iqa-scenes: cannot read list ", list_file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) files.push_back(line);
  }
  return files;
}

// [3, S, S] CLIP input of one image file.
std::vector<float> preprocess(const std::string& path, int64_t size) {
  ImageU8 img = center_crop(resize_short_side(decode_image(path), int(size)), int(size));
  std::vector<float> chw(size_t(3 * size * size));
  normalize_to_chw(img, chw.data(), kClipMean, kClipStd);
  return chw;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"iqa-scenes: zero-shot CLIP scene labels for an image dataset"};
  std::string checkpoint, vocab, data_json, data_root = ".", list_file, out, format = "csv", labels_arg,
                                            prompt = "a photo of {label}", dataset;
  training::DeviceChoice device_choice = training::DeviceChoice::Auto;
  std::vector<std::string> inputs;
  int domain_base = -1, batch = 32;
  app.add_option("--checkpoint", checkpoint,
                 "CLIP weights as safetensors: OpenCLIP/OpenAI or Hugging Face CLIPModel names (ViT-B-32)")
      ->required();
  app.add_option("inputs", inputs, "image files or folders");
  app.add_option("--list", list_file, "a text file with one image path per line");
  app.add_option("--data_json", data_json, "a data_json listing to label (image paths under --data_root)");
  app.add_option("--data_root", data_root, "root of the listing's image paths")->capture_default_str();
  app.add_option("--vocab", vocab, "bpe_simple_vocab_16e6.txt.gz (default: .deps/clip/, tools/fetch_clip_vocab.sh)");
  app.add_option("--labels", labels_arg, "comma-separated scene names (default: SPAQ's nine)");
  app.add_option("--prompt", prompt, "prompt template; {label} is replaced")->capture_default_str();
  app.add_option("--dataset", dataset,
                 "registry name giving the id base (koniq10k: 300, and the reference's "
                 "eight KonIQ labels without 'Others')");
  app.add_option("--domain-base", domain_base, "first domain id (overrides --dataset's; default 0)");
  app.add_option("--out", out, "write to this file instead of stdout");
  app.add_option("--format", format, "csv | json")->capture_default_str();
  app.add_option("--batch", batch, "images per forward")->capture_default_str();
  training::add_choice(app, "--device", device_choice, "auto | cpu | cuda");
  CLI11_PARSE(app, argc, argv);

  try {
    IQA_CHECK(format == "csv" || format == "json", "iqa-scenes: --format must be csv or json, got ", format);
    IQA_CHECK(batch > 0, "iqa-scenes: --batch must be positive");
    IQA_CHECK(prompt.find("{label}") != std::string::npos, "iqa-scenes: --prompt must contain {label}");
    std::vector<std::string> labels = labels_arg.empty() ? spaq_scene_labels() : split_commas(labels_arg);
    int base = 0;
    if (!dataset.empty()) {
      base = dataset_info(dataset).domain_base;
      // The reference labelled KonIQ with Others commented out, hence its 300-307 (sind.md §5.3).
      if (dataset == "koniq10k" && labels_arg.empty()) labels.pop_back();
    }
    if (domain_base >= 0) base = domain_base;
    IQA_CHECK(!labels.empty(), "iqa-scenes: no labels");

    std::vector<std::string> images, names;  // paths to read, names to print
    if (!data_json.empty()) {
      for (const auto& e : read_data_json(data_json).entries) {
        images.push_back((fs::path(data_root) / e.image).string());
        names.push_back(e.image);
      }
    } else {
      images = collect_images(inputs, list_file);
      names = images;
    }
    IQA_CHECK(!images.empty(), "iqa-scenes: no images (give files, folders, --list or --data_json)");

    const auto ckpt = clip_in_openclip_names(load_safetensors(checkpoint));
    CLIPModel model(CLIPConfig::from_state_dict(ckpt, checkpoint));
    load_weights(model, ckpt, /*strict=*/true, checkpoint);
    model.eval();
    const bool gpu = device_choice == training::DeviceChoice::CUDA ||
                     (device_choice == training::DeviceChoice::Auto && cuda::available());
    const Device device = gpu ? cuda_device(0) : kCPU;
    model.to(device);
    NoGradGuard ng;

    const ClipTokenizer tok(vocab.empty() ? ClipTokenizer::default_vocab_path() : vocab);
    const int64_t S = model.config.vision.image_size;
    SceneLabeller labeller(model, tok, labels, prompt, base);

    std::string csv = "image,scene,domain_id";
    for (const auto& l : labels) csv += ",p_" + l;
    csv += "\n";
    nlohmann::json js = nlohmann::json::array();
    int64_t bad = 0;
    for (size_t start = 0; start < images.size(); start += size_t(batch)) {
      std::vector<float> pixels;
      std::vector<size_t> ok;
      for (size_t i = start; i < std::min(images.size(), start + size_t(batch)); ++i) {
        try {
          const std::vector<float> chw = preprocess(images[i], S);
          pixels.insert(pixels.end(), chw.begin(), chw.end());
          ok.push_back(i);
        } catch (const std::exception& e) {
          std::cerr << "\niqa-scenes: skipped " << e.what() << "\n";
          ++bad;
        }
      }
      if (!ok.empty()) {
        const std::vector<SceneLabel> got =
            labeller.label(Tensor::from_vector(pixels, {int64_t(ok.size()), 3, S, S}));
        for (size_t r = 0; r < ok.size(); ++r) {
          const SceneLabel& g = got[r];
          const std::string& scene = labels[size_t(g.index)];
          nlohmann::json item = {{"image", names[ok[r]]}, {"scene", scene}, {"domain_id", g.domain_id}};
          csv += names[ok[r]] + "," + scene + "," + std::to_string(g.domain_id);
          for (size_t l = 0; l < labels.size(); ++l) {
            char num[32];
            std::snprintf(num, sizeof num, ",%.6f", g.probs[l]);
            csv += num;
            item["probs"][labels[l]] = g.probs[l];
          }
          csv += "\n";
          js.push_back(item);
        }
      }
      std::cerr << "\riqa-scenes: " << std::min(images.size(), start + size_t(batch)) << "/" << images.size()
                << " images" << std::flush;
    }
    std::cerr << "\n";
    const std::string text_out = format == "json" ? js.dump(2) + "\n" : csv;
    if (out.empty())
      std::cout << text_out;
    else
      std::ofstream(out) << text_out;
    if (bad) std::cerr << "iqa-scenes: " << bad << " image(s) could not be read\n";
    return bad ? 2 : 0;
  } catch (const std::exception& e) {
    return iqa::tools::report_error("iqa-scenes", e);
  }
}
