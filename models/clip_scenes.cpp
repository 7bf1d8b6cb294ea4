#include "models/clip_scenes.h"

#include <algorithm>

#include "engine/autograd.h"

namespace iqa::models {

const std::vector<std::string>& spaq_scene_labels() {
  static const std::vector<std::string> names = {"Animal",      "Cityscape", "Human",      "Indoor scene", "Landscape",
                                                 "Night scene", "Plant",     "Still-life", "Others"};
  return names;
}

SceneLabeller::SceneLabeller(CLIPModel& model, const ClipTokenizer& tokenizer, std::vector<std::string> labels,
                             const std::string& prompt, int domain_base)
    : model_(model), labels_(std::move(labels)), base_(domain_base) {
  IQA_CHECK(!labels_.empty(), "SceneLabeller: no labels");
  const size_t at = prompt.find("{label}");
  IQA_CHECK(at != std::string::npos, "SceneLabeller: the prompt '", prompt, "' must contain {label}");
  const int64_t C = model.config.text.context_length;
  std::vector<int64_t> ids;
  for (const auto& label : labels_) {
    std::string p = prompt;
    p.replace(at, 7, label);
    for (int32_t id : tokenizer.tokenize(p, C)) ids.push_back(id);
  }
  NoGradGuard ng;
  const Tensor tokens = Tensor::from_vector_i64(ids, {int64_t(labels_.size()), C});
  text_features_ = model.encode_text(tokens.to(model.positional_embedding.device()));
}

std::vector<SceneLabel> SceneLabeller::label(const Tensor& images) {
  NoGradGuard ng;
  const Tensor x = images.to(text_features_.device());
  const std::vector<float> p = softmax(model_.logits_per_image(model_.encode_image(x), text_features_), -1).cpu().to_vector();
  const size_t L = labels_.size();
  std::vector<SceneLabel> out(size_t(images.size(0)));
  for (size_t r = 0; r < out.size(); ++r) {
    const float* row = p.data() + r * L;
    out[r].probs.assign(row, row + L);
    out[r].index = int(std::max_element(row, row + L) - row);
    out[r].domain_id = base_ + out[r].index;
  }
  return out;
}

}  // namespace iqa::models
