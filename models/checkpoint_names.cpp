// Name translation for OpenCLIP, Hugging Face CLIP, torchvision and SIND reference checkpoints, and
// the one loader that checks everything before copying.
#include "models/checkpoint_names.h"

#include <set>

#include "engine/autograd.h"
#include "engine/safetensors.h"

namespace iqa::models {

namespace {
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

// HF per-layer member -> OpenCLIP member (q/k/v are merged separately).
const std::vector<std::pair<std::string, std::string>> kHfLayerMembers = {
    {"self_attn.out_proj.", "attn.out_proj."}, {"layer_norm1.", "ln_1."}, {"layer_norm2.", "ln_2."},
    {"mlp.fc1.", "mlp.c_fc."},                 {"mlp.fc2.", "mlp.c_proj."}};
const std::vector<std::pair<std::string, std::string>> kHfTopMembers = {
    {"embeddings.class_embedding", "class_embedding"},
    {"embeddings.patch_embedding.weight", "conv1.weight"},
    {"embeddings.position_embedding.weight", "positional_embedding"},
    {"pre_layrnorm.", "ln_pre."},
    {"post_layernorm.", "ln_post."}};

// Replaces a matching prefix from `table`; returns false when none matches.
bool rename_by_prefix(const std::string& name, const std::vector<std::pair<std::string, std::string>>& table,
                      std::string& out) {
  for (auto& [from, to] : table)
    if (starts_with(name, from)) {
      out = to + name.substr(from.size());
      return true;
    }
  return false;
}

// torchvision's ResNet children in order, as the reference's nn.Sequential(*children()[:-1]) numbers them.
const std::vector<std::pair<std::string, std::string>> kSindResNetIndices = {
    {"clip_model.0.", "clip_model.conv1."},  {"clip_model.1.", "clip_model.bn1."},
    {"clip_model.4.", "clip_model.layer1."}, {"clip_model.5.", "clip_model.layer2."},
    {"clip_model.6.", "clip_model.layer3."}, {"clip_model.7.", "clip_model.layer4."}};
}  // namespace

const char* weight_naming_name(WeightNaming n) {
  switch (n) {
    case WeightNaming::Auto: return "auto";
    case WeightNaming::Native: return "native";
    case WeightNaming::OpenCLIP: return "openclip";
    case WeightNaming::HuggingFaceCLIP: return "hf";
    case WeightNaming::Torchvision: return "torchvision";
    case WeightNaming::SindReference: return "sind";
  }
  return "?";
}

WeightNaming parse_weight_naming(const std::string& s) {
  for (WeightNaming n : {WeightNaming::Auto, WeightNaming::Native, WeightNaming::OpenCLIP, WeightNaming::HuggingFaceCLIP,
                         WeightNaming::Torchvision, WeightNaming::SindReference})
    if (s == weight_naming_name(n)) return n;
  fail(cat("unknown weight naming '", s, "' (expected auto, native, openclip, hf, torchvision or sind)"));
}

std::string LoadReport::summary() const {
  std::string s = cat("loading ", source, ": ", loaded.size(), " tensors loaded, ", skipped.size(), " skipped");
  if (!missing.empty()) s += cat("; missing [", join(missing), "]");
  if (!unexpected.empty()) s += cat("; unexpected [", join(unexpected), "]");
  if (!mis_shaped.empty()) s += cat("; shape mismatch [", join(mis_shaped), "]");
  return s;
}

LoadReport load_weights(Module& model, const TensorMap& state, bool strict, const std::string& source,
                        std::vector<std::string> skipped) {
  LoadReport r;
  r.source = source;
  r.skipped = std::move(skipped);
  TensorMap good;
  std::set<std::string> own;
  for (auto& [name, t] : model.state_dict()) {
    own.insert(name);
    auto it = state.find(name);
    if (it == state.end()) {
      r.missing.push_back(name);
    } else if (it->second.shape() != t.shape()) {
      r.mis_shaped.push_back(
          cat(name, " (checkpoint ", shape_str(it->second.shape()), ", model ", shape_str(t.shape()), ")"));
    } else {
      good[name] = it->second;
      r.loaded.push_back(name);
    }
  }
  for (auto& [name, _] : state)
    if (!own.count(name)) r.unexpected.push_back(name);
  IQA_CHECK(!strict || r.clean(), "cannot load into ", model.type_name(), ": ", r.summary());
  // Only matching names with matching shapes remain, so this copies without further checks (and lets
  // modules such as BatchNorm refresh their host-side mirrors).
  model.load_state_dict(good, /*strict=*/false);
  return r;
}

TensorMap strip_module_prefix(const TensorMap& ckpt) {
  TensorMap out;
  for (auto& [n, t] : ckpt) out[starts_with(n, "module.") ? n.substr(7) : n] = t;
  return out;
}

TensorMap clip_visual_from_openclip(const TensorMap& ckpt, std::vector<std::string>* skipped) {
  TensorMap out;
  for (auto& [n, t] : strip_module_prefix(ckpt)) {
    if (starts_with(n, "visual.")) out[n.substr(7)] = t;
    else if (skipped) skipped->push_back(n);  // text tower, logit_scale, ...
  }
  return out;
}

TensorMap clip_visual_from_huggingface(const TensorMap& ckpt_in, std::vector<std::string>* skipped) {
  const TensorMap ckpt = strip_module_prefix(ckpt_in);
  TensorMap out;
  // layer index -> {"q.weight": t, ...} gathered for the in_proj merge
  std::map<std::string, std::map<std::string, std::pair<std::string, Tensor>>> qkv;
  NoGradGuard ng;
  for (auto& [n, t] : ckpt) {
    if (n == "visual_projection.weight") {
      IQA_CHECK(t.dim() == 2, "Hugging Face visual_projection.weight must be 2-D, got ", t.str());
      out["proj"] = t.to(DType::F32).transpose(0, 1).contiguous();  // HF: [out, W]; OpenCLIP: [W, out]
      continue;
    }
    if (!starts_with(n, "vision_model.")) {
      if (skipped) skipped->push_back(n);  // text_model.*, text_projection, logit_scale
      continue;
    }
    const std::string rest = n.substr(13);
    std::string mapped;
    if (rest == "embeddings.position_ids") {
      if (skipped) skipped->push_back(n);  // an index buffer, not a weight
    } else if (rename_by_prefix(rest, kHfTopMembers, mapped)) {
      out[mapped] = t;
    } else if (starts_with(rest, "encoder.layers.")) {
      const std::string tail = rest.substr(15);
      const size_t dot = tail.find('.');
      const std::string layer = tail.substr(0, dot), member = dot == std::string::npos ? "" : tail.substr(dot + 1);
      const std::string block = "transformer.resblocks." + layer + ".";
      bool is_qkv = false;
      for (const char* p : {"q", "k", "v"})
        for (const char* w : {"weight", "bias"})
          if (member == cat("self_attn.", p, "_proj.", w)) {
            qkv[layer][cat(p, ".", w)] = {n, t};
            is_qkv = true;
          }
      if (is_qkv) continue;
      if (rename_by_prefix(member, kHfLayerMembers, mapped)) out[block + mapped] = t;
      else out[n] = t;  // unknown: reported as unexpected under its own name
    } else {
      out[n] = t;
    }
  }
  for (auto& [layer, parts] : qkv) {
    for (const char* w : {"weight", "bias"}) {
      std::vector<Tensor> pieces;
      for (const char* p : {"q", "k", "v"}) {
        auto it = parts.find(cat(p, ".", w));
        if (it != parts.end()) pieces.push_back(it->second.second.to(DType::F32));
      }
      if (pieces.size() == 3) {
        out[cat("transformer.resblocks.", layer, ".attn.in_proj_", w)] = concat(pieces, 0);
      } else {  // incomplete triple: leave the pieces under their names so the load lists them
        for (const char* p : {"q", "k", "v"}) {
          auto it = parts.find(cat(p, ".", w));
          if (it != parts.end()) out[it->second.first] = it->second.second;
        }
      }
    }
  }
  return out;
}

TensorMap clip_from_huggingface(const TensorMap& ckpt_in, std::vector<std::string>* skipped) {
  const TensorMap ckpt = strip_module_prefix(ckpt_in);
  TensorMap out, text_as_vision;
  std::vector<std::string> ignored;  // the vision pass sees the text names and the other way round
  for (auto& [n, t] : clip_visual_from_huggingface(ckpt, &ignored)) out["visual." + n] = t;
  // The text tower's encoder layers and position embedding have the vision tower's HF names under
  // text_model.*, so they go through the same translation (q/k/v merge included) under vision_model.*.
  for (auto& [n, t] : ckpt) {
    if (n == "text_model.embeddings.position_ids" || n == "vision_model.embeddings.position_ids") {
      if (skipped) skipped->push_back(n);  // index buffers, not weights
    } else if (n == "text_model.embeddings.token_embedding.weight") {
      out["token_embedding.weight"] = t;
    } else if (starts_with(n, "text_model.final_layer_norm.")) {
      out["ln_final." + n.substr(28)] = t;
    } else if (starts_with(n, "text_model.")) {
      text_as_vision["vision_model." + n.substr(11)] = t;
    } else if (n == "text_projection.weight") {
      text_as_vision["visual_projection.weight"] = t;
    } else if (!starts_with(n, "vision_model.") && n != "visual_projection.weight") {
      out[n] = t;  // logit_scale; anything else is reported as unexpected by the load
    }
  }
  for (auto& [n, t] : clip_visual_from_huggingface(text_as_vision, &ignored))
    out[n == "proj" ? "text_projection" : n] = t;
  return out;
}

TensorMap clip_in_openclip_names(const TensorMap& ckpt, std::vector<std::string>* skipped) {
  return detect_clip_naming(ckpt) == WeightNaming::HuggingFaceCLIP ? clip_from_huggingface(ckpt, skipped)
                                                                    : strip_module_prefix(ckpt);
}

WeightNaming detect_clip_naming(const TensorMap& ckpt_in) {
  const TensorMap ckpt = strip_module_prefix(ckpt_in);
  bool openclip = false;
  for (auto& [n, _] : ckpt) {
    if (starts_with(n, "vision_model.") || n == "visual_projection.weight") return WeightNaming::HuggingFaceCLIP;
    if (starts_with(n, "visual.")) openclip = true;
  }
  return openclip ? WeightNaming::OpenCLIP : WeightNaming::Native;
}

LoadReport load_clip_visual(VisionTransformer& model, const TensorMap& ckpt, WeightNaming naming, bool strict,
                            const std::string& source) {
  if (naming == WeightNaming::Auto) naming = detect_clip_naming(ckpt);
  std::vector<std::string> skipped;
  TensorMap state;
  switch (naming) {
    case WeightNaming::OpenCLIP: state = clip_visual_from_openclip(ckpt, &skipped); break;
    case WeightNaming::HuggingFaceCLIP: state = clip_visual_from_huggingface(ckpt, &skipped); break;
    case WeightNaming::Native: state = strip_module_prefix(ckpt); break;
    default: fail(cat("load_clip_visual: naming '", weight_naming_name(naming), "' does not describe a CLIP tower"));
  }
  return load_weights(model, state, strict, cat(source, " (", weight_naming_name(naming), " names)"), skipped);
}

LoadReport load_torchvision_resnet(ResNet& model, const TensorMap& ckpt, bool strict, const std::string& source) {
  std::vector<std::string> skipped;
  TensorMap state;
  for (auto& [n, t] : strip_module_prefix(ckpt)) {
    if (!model.fc && starts_with(n, "fc.")) skipped.push_back(n);  // ImageNet classifier of a feature extractor
    else state[n] = t;
  }
  return load_weights(model, state, strict, cat(source, " (torchvision names)"), skipped);
}

LoadReport load_sind_reference(QualityModel& model, const TensorMap& ckpt, bool strict, const std::string& source) {
  const bool is_resnet = dynamic_cast<SimpleResNetIQA*>(&model) != nullptr;
  std::vector<std::string> skipped;
  TensorMap state;
  for (auto& [n, t] : strip_module_prefix(ckpt)) {
    std::string mapped = n;
    if (is_resnet) {
      rename_by_prefix(n, kSindResNetIndices, mapped);
    } else if (starts_with(n, "clip_model.") && !starts_with(n, "clip_model.visual.")) {
      skipped.push_back(n);  // OpenCLIP's text tower, logit_scale: unused by the image-quality forward
      continue;
    }
    state[mapped] = t;
  }
  return load_weights(model, state, strict, cat(source, " (SIND reference names)"), skipped);
}

LoadReport load_pretrained(Module& model, const std::string& path, WeightNaming naming, bool strict) {
  const TensorMap ckpt = load_safetensors(path);
  auto* vit = dynamic_cast<VisionTransformer*>(&model);
  auto* resnet = dynamic_cast<ResNet*>(&model);
  auto* quality = dynamic_cast<QualityModel*>(&model);
  if (naming == WeightNaming::Auto) {
    if (vit) naming = detect_clip_naming(ckpt);
    else if (resnet) naming = WeightNaming::Torchvision;
    else if (quality) naming = WeightNaming::SindReference;
    else naming = WeightNaming::Native;
  }
  switch (naming) {
    case WeightNaming::Native: return load_weights(model, strip_module_prefix(ckpt), strict, path);
    case WeightNaming::OpenCLIP:
    case WeightNaming::HuggingFaceCLIP:
      IQA_CHECK(vit, path, ": ", weight_naming_name(naming), " names need a VisionTransformer, got ", model.type_name());
      return load_clip_visual(*vit, ckpt, naming, strict, path);
    case WeightNaming::Torchvision:
      IQA_CHECK(resnet, path, ": torchvision names need a ResNet, got ", model.type_name());
      return load_torchvision_resnet(*resnet, ckpt, strict, path);
    case WeightNaming::SindReference:
      IQA_CHECK(quality, path, ": SIND reference names need a SIND quality model, got ", model.type_name());
      return load_sind_reference(*quality, ckpt, strict, path);
    case WeightNaming::Auto: break;
  }
  fail("load_pretrained: unreachable naming");
}

}  // namespace iqa::models
