// CLIP's text side against open_clip: the tokenizer on tests/fixtures/clip_text/tokenizer.json, the
// text tower, image tower and logits on clip_tiny.safetensors (both by tools/make_clip_text_fixtures.py),
// the full ViT-B/32 parameter shapes against the ones open_clip builds, and tools/iqa-scenes end to end.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "engine/safetensors.h"
#include "models/checkpoint_names.h"
#include "models/clip.h"
#include "models/clip_tokenizer.h"
#include "tests/model_fixtures.h"
#include "training/image/encode.h"

using namespace iqa;
using namespace iqa::models;
using iqa::testing::max_rel_error;

namespace {
const std::string kFixtures = std::string(IQA_SOURCE_DIR) + "/tests/fixtures/clip_text/";

// The vocabulary tools/fetch_clip_vocab.sh fetches (tools/setup.sh test runs it, so CI has it).
const ClipTokenizer& tokenizer() {
  static const ClipTokenizer tok(ClipTokenizer::default_vocab_path(IQA_SOURCE_DIR));
  return tok;
}

struct TinyClip {
  std::map<std::string, Tensor> params, all;
  nlohmann::json config, full_shapes;
};

TinyClip open_clip_fixture(const std::string& path = kFixtures + "clip_tiny.safetensors") {
  TinyClip f;
  SafetensorsFile file = SafetensorsFile::open(path);
  for (auto& n : file.names()) {
    f.all[n] = file.get(n);
    if (n.rfind("param.", 0) == 0) f.params[n.substr(6)] = f.all[n];
  }
  f.config = nlohmann::json::parse(file.metadata().at("config"));
  f.full_shapes = nlohmann::json::parse(file.metadata().at("full_shapes"));
  return f;
}

CLIPConfig fixture_config(const nlohmann::json& c) {
  CLIPConfig cfg;
  const nlohmann::json& v = c["vision"];
  cfg.vision.image_size = v["image_size"].get<int64_t>();
  cfg.vision.patch_size = v["patch_size"].get<int64_t>();
  cfg.vision.width = v["width"].get<int64_t>();
  cfg.vision.layers = v["layers"].get<int64_t>();
  cfg.vision.heads = cfg.vision.width / v["head_width"].get<int64_t>();
  cfg.vision.output_dim = c["embed"].get<int64_t>();
  cfg.text.vocab_size = c["vocab"].get<int64_t>();
  cfg.text.width = c["text_width"].get<int64_t>();
  cfg.text.layers = c["text_layers"].get<int64_t>();
  cfg.text.heads = c["text_heads"].get<int64_t>();
  cfg.text.output_dim = c["embed"].get<int64_t>();
  return cfg;
}
}  // namespace

TEST_CASE("CLIP tokenizer equals open_clip's on every fixture string", "[clip]") {
  std::ifstream in(kFixtures + "tokenizer.json");
  const nlohmann::json js = nlohmann::json::parse(in);
  REQUIRE(js["cases"].size() >= 20);
  REQUIRE(tokenizer().vocab_size() == 49408);
  for (const auto& c : js["cases"]) {
    const std::string text = c["text"].get<std::string>();
    std::vector<int32_t> want = c["tokens"].get<std::vector<int32_t>>();
    want.resize(77, 0);
    INFO("text: '" << text << "' cleaned: '" << ClipTokenizer::clean(text) << "'");
    CHECK(tokenizer().tokenize(text) == want);
  }
}

TEST_CASE("CLIP tokenizer: truncation keeps the end token, decode inverts encode", "[clip]") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "cat ";
  const auto ids = tokenizer().tokenize(text);
  REQUIRE(ids.size() == 77);
  CHECK(ids.front() == ClipTokenizer::kStartOfText);
  CHECK(ids.back() == ClipTokenizer::kEndOfText);
  CHECK(ids[75] == tokenizer().encode("cat")[0]);
  CHECK(tokenizer().decode(tokenizer().encode("a photo of indoor scene")) == "a photo of indoor scene ");
  CHECK(tokenizer().tokenize("a b", 3) == std::vector<int32_t>{49406, 320, 49407});
}

TEST_CASE("CLIP tokenizer names the missing vocabulary file", "[clip]") {
  const std::string path = "/nonexistent/bpe_simple_vocab_16e6.txt.gz";
  REQUIRE_THROWS_WITH(ClipTokenizer(path), Catch::Contains(path) && Catch::Contains("fetch_clip_vocab.sh"));
}

// Both towers and the logits of the fixture at `path` against open_clip's (or transformers'), in f32.
static void check_parity(const std::string& path, WeightNaming naming = WeightNaming::OpenCLIP) {
  TinyClip f = open_clip_fixture(path);
  REQUIRE(detect_clip_naming(f.params) == naming);
  if (naming == WeightNaming::HuggingFaceCLIP) f.params = clip_in_openclip_names(f.params);
  CLIPModel model(fixture_config(f.config));
  load_weights(model, f.params, /*strict=*/true, path);
  model.eval();
  NoGradGuard ng;
  const Tensor text = model.encode_text(f.all.at("input.tokens"));
  const Tensor image = model.encode_image(f.all.at("input.images"));
  const Tensor logits = model.logits_per_image(image, text);
  CHECK(max_rel_error(text, f.all.at("output.text_features")) < 1e-4);
  CHECK(max_rel_error(image, f.all.at("output.image_features")) < 1e-4);
  CHECK(max_rel_error(logits, f.all.at("output.logits_per_image")) < 1e-4);
  // A different end-token position changes the pooled row: the pooling really follows the argmax.
  const Tensor& tokens = f.all.at("input.tokens");
  std::vector<int64_t> ids = tokens.to_vector_i64();
  REQUIRE(ids[1] == model.config.text.vocab_size - 1);  // sequence 0 is [start, end, 0...]: move its end
  ids[3] = ids[1], ids[1] = 7, ids[2] = 8;
  const Tensor other = model.encode_text(Tensor::from_vector_i64(ids, tokens.shape()));
  CHECK(max_rel_error(other.narrow(0, 0, 1), text.narrow(0, 0, 1)) > 1e-2);
  CHECK(max_rel_error(other.narrow(0, 1, 3), text.narrow(0, 1, 3)) < 1e-6);
}

TEST_CASE("CLIP text tower, image tower and logits match open_clip in f32", "[clip]") {
  check_parity(kFixtures + "clip_tiny.safetensors");
}

// Weights as transformers' CLIPModel names and shapes them (q/k/v split, projections as Linear weights),
// written by transformers itself, so the translation is checked against the library, not against itself.
TEST_CASE("CLIP from a Hugging Face CLIPModel state dict matches transformers in f32", "[clip]") {
  check_parity(kFixtures + "clip_tiny_hf.safetensors", WeightNaming::HuggingFaceCLIP);
}

// Full ViT-B/32 size (600 MB fixture, not committed): make_clip_text_fixtures.py --full PATH, then run
// with IQA_CLIP_FULL_FIXTURE=PATH. Hidden, so CI does not run it.
TEST_CASE("CLIP ViT-B/32 at full size matches open_clip in f32", "[.clip-full]") {
  const char* path = std::getenv("IQA_CLIP_FULL_FIXTURE");
  REQUIRE(path != nullptr);
  check_parity(path);
}

TEST_CASE("CLIP config from a state dict, full ViT-B/32 shapes equal open_clip's", "[clip]") {
  const TinyClip f = open_clip_fixture();
  const CLIPConfig inferred = CLIPConfig::from_state_dict(f.params, "clip_tiny");
  CHECK(inferred.text.width == 64);
  CHECK(inferred.text.layers == 2);
  CHECK(inferred.text.vocab_size == 512);
  CHECK(inferred.text.context_length == 77);
  CHECK(inferred.vision.image_size == 32);
  CHECK(inferred.vision.patch_size == 16);
  CHECK(inferred.vision.output_dim == 32);
  REQUIRE_THROWS_WITH(CLIPConfig::from_state_dict({}, "empty.safetensors"),
                      Catch::Contains("empty.safetensors") && Catch::Contains("visual.conv1.weight"));

  CLIPModel full(CLIPConfig::vit_b32());
  std::map<std::string, Shape> ours;
  for (auto& [n, t] : full.state_dict()) ours[n] = t.shape();
  std::map<std::string, Shape> theirs;
  for (auto& [n, s] : f.full_shapes.items()) theirs[n] = s.get<Shape>();
  CHECK(ours == theirs);
}

namespace {
std::vector<std::vector<std::string>> read_csv_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}
}  // namespace

TEST_CASE("iqa-scenes labels a folder with a tiny random CLIP and names the unreadable image", "[clip]") {
  namespace fs = std::filesystem;
  const fs::path tool = fs::read_symlink("/proc/self/exe").parent_path() / "iqa-scenes";
  REQUIRE(fs::exists(tool));
  const fs::path dir = fs::temp_directory_path() / "iqa_scenes_test";
  fs::remove_all(dir);
  fs::create_directories(dir / "images");
  for (int k = 0; k < 2; ++k) {
    ImageU8 img(40, 30, 3);
    for (int y = 0; y < 30; ++y)
      for (int x = 0; x < 40; ++x)
        for (int c = 0; c < 3; ++c) img.at(y, x, c) = uint8_t(k ? (x * 6 + c * 40) : (y * 8 + c * 70));
    write_png((dir / "images" / cat("img", k, ".png")).string(), img);
  }
  std::ofstream(dir / "images" / "broken.png") << "not a png";
  CLIPConfig cfg;  // the real vocabulary (the tokenizer's ids), tiny towers
  cfg.vision = VisionTransformerConfig::tiny(16, 32);
  cfg.text.width = 64, cfg.text.heads = 1, cfg.text.layers = 1, cfg.text.output_dim = 32;
  {
    CLIPModel model(cfg);
    save_safetensors((dir / "clip.safetensors").string(), model.state_dict());
  }
  const std::string common = cat(tool.string(), " --checkpoint ", (dir / "clip.safetensors").string(), " --vocab ",
                                 ClipTokenizer::default_vocab_path(IQA_SOURCE_DIR), " ", (dir / "images").string());
  const int status = std::system(
      (common + " --dataset koniq10k --out " + (dir / "out.csv").string() + " 2>" + (dir / "err.txt").string())
          .c_str());
  CHECK(WEXITSTATUS(status) == 2);  // one image could not be read
  std::ifstream err(dir / "err.txt");
  const std::string err_text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  CHECK(err_text.find("broken.png") != std::string::npos);

  const auto rows = read_csv_rows((dir / "out.csv").string());
  REQUIRE(rows.size() == 3);
  const std::vector<std::string> header = {"image",         "scene",   "domain_id",      "p_Animal",
                                           "p_Cityscape",   "p_Human", "p_Indoor scene", "p_Landscape",
                                           "p_Night scene", "p_Plant", "p_Still-life"};
  CHECK(rows[0] == header);  // KonIQ: the reference's eight labels, ids 300-307
  for (size_t r = 1; r < rows.size(); ++r) {
    REQUIRE(rows[r].size() == header.size());
    CHECK(rows[r][0].find(cat("img", r - 1, ".png")) != std::string::npos);
    std::vector<double> p;
    for (size_t c = 3; c < header.size(); ++c) p.push_back(std::stod(rows[r][c]));
    const size_t best = size_t(std::max_element(p.begin(), p.end()) - p.begin());
    CHECK(std::accumulate(p.begin(), p.end(), 0.0) == Approx(1.0).margin(1e-4));
    CHECK(rows[r][1] == header[3 + best].substr(2));
    CHECK(std::stoi(rows[r][2]) == 300 + int(best));
  }

  // Own labels and id base, JSON output.
  const int status2 = std::system((common + " --labels cat,dog --domain-base 200 --format json --out " +
                                   (dir / "out.json").string() + " 2>/dev/null")
                                      .c_str());
  CHECK(WEXITSTATUS(status2) == 2);
  std::ifstream js_in(dir / "out.json");
  const nlohmann::json js = nlohmann::json::parse(js_in);
  REQUIRE(js.size() == 2);
  for (const auto& item : js) {
    const int id = item["domain_id"].get<int>();
    CHECK((id == 200 || id == 201));
    CHECK(item["scene"].get<std::string>() == (id == 200 ? "cat" : "dog"));
    CHECK(item["probs"]["cat"].get<double>() + item["probs"]["dog"].get<double>() == Approx(1.0).margin(1e-5));
  }
  fs::remove_all(dir);
}

TEST_CASE("A Hugging Face CLIPModel state dict translates into OpenCLIP names", "[clip]") {
  const TinyClip f = open_clip_fixture();
  // Write the fixture's weights the way transformers names them: q/k/v split, projections [out, W].
  TensorMap hf;
  for (auto& [n, t] : f.params) {
    const bool visual = n.rfind("visual.", 0) == 0;
    const std::string tower = visual ? "vision_model." : "text_model.", rest = visual ? n.substr(7) : n;
    const std::string block = "transformer.resblocks.";
    if (rest.rfind(block, 0) == 0) {
      const size_t dot = rest.find('.', block.size());
      const std::string layer = rest.substr(block.size(), dot - block.size()), member = rest.substr(dot + 1);
      const std::string base = tower + "encoder.layers." + layer + ".";
      if (member == "attn.in_proj_weight" || member == "attn.in_proj_bias") {
        const std::string kind = member == "attn.in_proj_weight" ? "weight" : "bias";
        const int64_t w = t.size(0) / 3;
        for (int i = 0; i < 3; ++i)
          hf[cat(base, "self_attn.", "qkv"[i], "_proj.", kind)] = t.narrow(0, i * w, w).contiguous();
        continue;
      }
      static const std::map<std::string, std::string> members = {{"attn.out_proj", "self_attn.out_proj"},
                                                                 {"ln_1", "layer_norm1"},
                                                                 {"ln_2", "layer_norm2"},
                                                                 {"mlp.c_fc", "mlp.fc1"},
                                                                 {"mlp.c_proj", "mlp.fc2"}};
      const std::string module = member.substr(0, member.rfind('.'));
      hf[base + members.at(module) + member.substr(module.size())] = t;
    } else if (n == "visual.proj" || n == "text_projection") {
      hf[visual ? "visual_projection.weight" : "text_projection.weight"] = t.transpose(0, 1).contiguous();
    } else {
      static const std::map<std::string, std::string> top = {
          {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
          {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
          {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
          {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"},
          {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"},
          {"visual.ln_post.weight", "vision_model.post_layernorm.weight"},
          {"visual.ln_post.bias", "vision_model.post_layernorm.bias"},
          {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
          {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
          {"ln_final.weight", "text_model.final_layer_norm.weight"},
          {"ln_final.bias", "text_model.final_layer_norm.bias"},
          {"logit_scale", "logit_scale"}};
      hf[top.at(n)] = t;
    }
  }
  hf["text_model.embeddings.position_ids"] = Tensor::zeros({1, 77}, DType::I64);
  REQUIRE(detect_clip_naming(hf) == WeightNaming::HuggingFaceCLIP);
  std::vector<std::string> skipped;
  const TensorMap back = clip_in_openclip_names(hf, &skipped);
  CHECK(skipped == std::vector<std::string>{"text_model.embeddings.position_ids"});
  REQUIRE(back.size() == f.params.size());
  for (auto& [n, t] : f.params) {
    INFO(n);
    REQUIRE(back.count(n) == 1);
    CHECK(max_rel_error(back.at(n), t) == 0.0);
  }
}
