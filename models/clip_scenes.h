// Zero-shot scene labels with CLIP, as the SIND reference labels datasets without scene annotations
// (shared/spec/sind.md §5.3, data_json/clip_based_scene_classify.py): one prompt per label ("a photo
// of {label}"), the softmax of the image-text logits, its argmax; domain_id = base + label index.
// tools/iqa-scenes is the front end (files, preprocessing, output); this is the part a test can call.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "models/clip.h"
#include "models/clip_tokenizer.h"

namespace iqa::models {

// The per-channel mean and std CLIP's image preprocessing normalises with (OpenAI's).
constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

// SPAQ's nine scene categories in its id order (sind.md §5.3): iqa-scenes' default labels.
const std::vector<std::string>& spaq_scene_labels();

struct SceneLabel {
  int index = 0;               // into the labels
  int domain_id = 0;           // base + index
  std::vector<float> probs;    // softmax over the labels
};

class SceneLabeller {
 public:
  // Encodes one prompt per label (`prompt` with "{label}" replaced) with the model's text tower, on
  // the model's device. Throws iqa::Error for an empty label list or a prompt without {label}.
  SceneLabeller(CLIPModel& model, const ClipTokenizer& tokenizer, std::vector<std::string> labels,
                const std::string& prompt = "a photo of {label}", int domain_base = 0);
  // images: [B, 3, S, S], preprocessed as CLIP expects (models/clip.h users: iqa-scenes' preprocess).
  std::vector<SceneLabel> label(const Tensor& images);
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  CLIPModel& model_;
  std::vector<std::string> labels_;
  int base_ = 0;
  Tensor text_features_;  // [labels, output_dim]
};

}  // namespace iqa::models
