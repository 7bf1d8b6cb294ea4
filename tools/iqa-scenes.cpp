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

#include "engine/atomic_file.h"
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
#include "tools/iqa_scenes_flags.h"
#include "tools/tool_main.h"

using namespace iqa;
using namespace iqa::models;
namespace fs = std::filesystem;

namespace {

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
  return iqa::tools::tool_main<IqaScenesArgs>(
      argc, argv, "iqa-scenes: zero-shot CLIP scene labels for an image dataset", add_iqa_scenes_flags,
      [&](IqaScenesArgs& a, const CLI::App&) {
        finish_iqa_scenes_args(a);
        const std::vector<std::string>& labels = a.labels;
        const std::string &checkpoint = a.checkpoint, &data_root = a.data_root;
        const int base = a.base;
        const size_t batch = size_t(a.batch);

        std::vector<std::string> images, names;  // paths to read, names to print
        if (!a.data_json.empty()) {
          for (const auto& e : read_data_json(a.data_json).entries) {
            images.push_back((fs::path(data_root) / e.image).string());
            names.push_back(e.image);
          }
        } else {
          images = collect_images(a.inputs, a.list_file);
          names = images;
        }
        IQA_CHECK(!images.empty(), "iqa-scenes: no images (give files, folders, --list or --data_json)");

        const auto ckpt = clip_in_openclip_names(load_safetensors(checkpoint));
        CLIPModel model(CLIPConfig::from_state_dict(ckpt, checkpoint));
        load_weights(model, ckpt, /*strict=*/true, checkpoint);
        model.eval();
        const bool gpu =
            a.device == training::DeviceChoice::CUDA || (a.device == training::DeviceChoice::Auto && cuda::available());
        const Device device = gpu ? cuda_device(0) : kCPU;
        model.to(device);
        NoGradGuard ng;

        const ClipTokenizer tok(a.vocab.empty() ? ClipTokenizer::default_vocab_path() : a.vocab);
        const int64_t S = model.config.vision.image_size;
        SceneLabeller labeller(model, tok, labels, a.prompt, base);

        std::string csv = "image,scene,domain_id";
        for (const auto& l : labels) csv += ",p_" + l;
        csv += "\n";
        nlohmann::json js = nlohmann::json::array();
        int64_t bad = 0;
        for (size_t start = 0; start < images.size(); start += batch) {
          std::vector<float> pixels;
          std::vector<size_t> ok;
          for (size_t i = start; i < std::min(images.size(), start + batch); ++i) {
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
          std::cerr << "\riqa-scenes: " << std::min(images.size(), start + batch) << "/" << images.size() << " images"
                    << std::flush;
        }
        std::cerr << "\n";
        const std::string text_out = tools::writes_json(a.format, a.out) ? js.dump(2) + "\n" : csv;
        if (a.out.empty())
          std::cout << text_out;
        else
          write_file_atomically(a.out, text_out, "iqa-scenes");
        if (bad) std::cerr << "iqa-scenes: " << bad << " image(s) could not be read\n";
        return bad ? 2 : 0;
      });
}
