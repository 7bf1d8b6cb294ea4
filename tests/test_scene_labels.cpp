// Scene labels end to end: a tiny CLIP (both towers) trained here with the contrastive loss on the
// demo's procedural scenes (training/sind/demo.h) labels held-out images with the scene a test knows
// (models/clip_scenes.h, the labeller iqa-scenes calls); then tools/iqa-scenes with those weights
// writes its CSV and JSON, and tools/make-splits --scene_labels turns them into listings whose domain
// ids are the labels. The reader's errors are checked on small files.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "engine/optim.h"
#include "engine/random.h"
#include "engine/safetensors.h"
#include "models/clip_scenes.h"
#include "tests/testing.h"
#include "training/data/dataset.h"
#include "training/data/scene_labels.h"
#include "training/image/augment.h"
#include "training/image/decode.h"
#include "training/sind/demo.h"

using namespace iqa;
using namespace iqa::models;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kScenes = {"bricks", "waves", "rings", "checker-noise"};  // the demo's, in id order
constexpr int64_t kImageSize = 32;

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer tok(ClipTokenizer::default_vocab_path(IQA_SOURCE_DIR));
  return tok;
}

// The images the labeller sees, preprocessed as iqa-scenes does (short side, centre crop, CLIP's mean/std).
Tensor clip_inputs(const std::string& root, const std::vector<DatasetEntry>& entries) {
  std::vector<float> pixels(entries.size() * size_t(3 * kImageSize * kImageSize));
  for (size_t i = 0; i < entries.size(); ++i) {
    const ImageU8 img = center_crop(resize_short_side(decode_image(root + "/" + entries[i].image), int(kImageSize)), int(kImageSize));
    normalize_to_chw(img, pixels.data() + i * size_t(3 * kImageSize * kImageSize), kClipMean, kClipStd);
  }
  return Tensor::from_vector(pixels, {int64_t(entries.size()), 3, kImageSize, kImageSize});
}

// The demo's scenes at full contrast, three references per scene, each under five distortions at
// levels 1..5: the level-3 images are held out, the rest train. Measured: 1.0 held-out accuracy over
// manual seeds 11-14. Holding out a whole reference instead measured 0.29-1.0 by seed: the generator's
// variant changes a pattern's frequency and phase (1.0x, 1.35x, 1.7x), more than a tiny model sees from
// two or three examples per scene, so that is no test of the labeller.
struct SceneSet {
  std::string root;  // per process: ctest runs this file's cases in parallel processes
  std::vector<DatasetEntry> train, held_out;
  ~SceneSet() { fs::remove_all(root); }
};
const SceneSet& scene_set() {
  static const SceneSet set = [] {
    SceneSet s;
    s.root = (fs::temp_directory_path() / cat("iqa_scene_labels_test_", getpid())).string();
    fs::remove_all(s.root);
    training::DemoSetOptions o;
    o.scenes = 4, o.references_per_scene = 3, o.width = 48, o.height = 40, o.contrast = 1.0, o.seed = 3;
    for (const DatasetEntry& e : training::make_demo_dataset(s.root, o).entries)
      (e.image.find("_l3.png") != std::string::npos ? s.held_out : s.train).push_back(e);
    return s;
  }();
  return set;
}

// A tiny CLIP trained on the training images: each step one image per scene and the four prompts,
// the symmetric InfoNCE loss of CLIP (cross-entropy over the 4 x 4 logits, both directions). Head
// counts follow from the widths as CLIPConfig::from_state_dict infers them, so the saved weights
// load into iqa-scenes unchanged.
CLIPModel& trained_clip() {
  static const std::unique_ptr<CLIPModel> model = [] {
    CLIPConfig cfg;
    cfg.vision = VisionTransformerConfig::tiny(8, kImageSize);
    cfg.vision.heads = 1;
    cfg.text.width = 32, cfg.text.heads = 1, cfg.text.layers = 1, cfg.text.output_dim = 32;
    cfg.text.context_length = 16;
    manual_seed(11);
    auto m = std::make_unique<CLIPModel>(cfg);
    const SceneSet& set = scene_set();
    const Tensor images = clip_inputs(set.root, set.train);
    std::vector<int64_t> ids;
    for (const auto& s : kScenes)
      for (int32_t id : tokenizer().tokenize("a photo of " + s, cfg.text.context_length)) ids.push_back(id);
    const Tensor tokens = Tensor::from_vector_i64(ids, {4, cfg.text.context_length});
    const Tensor targets = Tensor::from_vector_i64({0, 1, 2, 3}, {4});
    std::vector<std::vector<int64_t>> by_scene(4);
    for (size_t i = 0; i < set.train.size(); ++i) by_scene[size_t(set.train[i].domain_id)].push_back(int64_t(i));
    AdamW opt({ParamGroup{m->parameters(), 2e-3, 0.0}});
    m->train();
    for (int step = 0; step < 200; ++step) {
      std::vector<int64_t> pick;
      for (const auto& rows : by_scene) pick.push_back(rows[size_t(step * 7 + int(pick.size()) * 3) % rows.size()]);
      const Tensor x = index_select(images, 0, Tensor::from_vector_i64(pick, {4}));
      const Tensor logits = m->logits_per_image(m->encode_image(x), m->encode_text(tokens));
      const Tensor loss = mul(add(cross_entropy(logits, targets), cross_entropy(logits.transpose(0, 1), targets)), 0.5);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    m->eval();
    return m;
  }();
  return *model;
}

size_t correct(const std::vector<SceneLabel>& got, const std::vector<DatasetEntry>& truth) {
  size_t n = 0;
  for (size_t i = 0; i < got.size(); ++i) n += got[i].domain_id == 200 + truth[i].domain_id;
  return n;
}

int run(const std::string& command) { return WEXITSTATUS(std::system(command.c_str())); }

}  // namespace

TEST_CASE("a tiny CLIP trained on the demo's scenes labels held-out images with their scene", "[clip][scenes]") {
  const SceneSet& set = scene_set();
  REQUIRE(set.train.size() == 240);
  REQUIRE(set.held_out.size() == 60);
  SceneLabeller labeller(trained_clip(), tokenizer(), kScenes, "a photo of {label}", 200);
  const std::vector<SceneLabel> got = labeller.label(clip_inputs(set.root, set.held_out));
  REQUIRE(got.size() == set.held_out.size());
  const double accuracy = double(correct(got, set.held_out)) / double(got.size());
  INFO("held-out accuracy " << accuracy);
  CHECK(accuracy >= 0.9);
  for (const SceneLabel& g : got) CHECK(g.probs.size() == 4);
}

// The labels through the tools: iqa-scenes with the trained weights on a listing (CSV, the listing's
// paths) and on a list of full paths (JSON), then make-splits --scene_labels on each. Every image's
// domain in the written listings is 200 + its known scene (LIVE Challenge's ids), the domains carry
// the scene names, and leave-one-out has one fold per scene.
TEST_CASE("iqa-scenes output feeds make-splits --scene_labels: listings carry the labelled scenes", "[clip][scenes]") {
  const SceneSet& set = scene_set();
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  REQUIRE(fs::exists(bin / "iqa-scenes"));
  REQUIRE(fs::exists(bin / "make-splits"));
  const fs::path dir = fs::path(set.root) / "tools";
  fs::create_directories(dir);
  save_safetensors((dir / "clip.safetensors").string(), trained_clip().state_dict());
  DatasetList listing;
  listing.entries = set.held_out;
  for (DatasetEntry& e : listing.entries) e.domain_id = 200;  // one domain, as make-splits gives LIVEC alone
  write_data_json((dir / "listing.json").string(), listing);
  {
    std::ofstream list(dir / "paths.txt");
    for (const DatasetEntry& e : set.held_out) list << set.root << "/" << e.image << "\n";
  }
  const std::string scenes = cat((bin / "iqa-scenes").string(), " --checkpoint ", (dir / "clip.safetensors").string(),
                                 " --vocab ", ClipTokenizer::default_vocab_path(IQA_SOURCE_DIR),
                                 " --dataset livec --labels bricks,waves,rings,checker-noise 2>/dev/null");
  REQUIRE(run(cat(scenes, " --data_json ", (dir / "listing.json").string(), " --data_root ", set.root, " --out ",
                  (dir / "labels.csv").string())) == 0);
  REQUIRE(run(cat(scenes, " --list ", (dir / "paths.txt").string(), " --format json --out ",
                  (dir / "labels.json").string())) == 0);

  for (const char* labels : {"labels.csv", "labels.json"}) {
    INFO(labels);
    const fs::path out = dir / (std::string(labels) + ".splits");
    REQUIRE(run(cat((bin / "make-splits").string(), " --dataset livec --scores ", (dir / "listing.json").string(),
                    " --scene_labels ", (dir / labels).string(), " --protocols leave-one-out --out ", out.string(),
                    " >/dev/null")) == 0);
    const DatasetList all = read_data_json((out / "all" / "livec_all.json").string());
    REQUIRE(all.entries.size() == set.held_out.size());
    size_t right = 0;
    for (size_t i = 0; i < all.entries.size(); ++i) {
      REQUIRE(fs::path(all.entries[i].image).filename() == fs::path(set.held_out[i].image).filename());
      right += all.entries[i].domain_id == 200 + set.held_out[i].domain_id;
    }
    CHECK(double(right) / double(all.entries.size()) >= 0.9);
    for (int s = 0; s < 4; ++s) CHECK(all.domain_names.at(200 + s) == kScenes[size_t(s)]);
    size_t folds = 0;
    for (const auto& f : fs::directory_iterator(out / "for_leave_one_out" / "livec")) folds += f.is_directory();
    CHECK(folds == 4);
  }
}

TEST_CASE("scene label files: bad ids and unlabelled images are named", "[scenes]") {
  const fs::path dir = fs::temp_directory_path() / "iqa_scene_label_errors";
  fs::create_directories(dir);
  std::ofstream(dir / "bad.csv") << "image,scene,domain_id,p_a\na.png,a,200,1.0\nb.png,b,x2,1.0\n";
  REQUIRE_THROWS_WITH(read_scene_label_file((dir / "bad.csv").string()),
                      Catch::Contains("bad.csv:3") && Catch::Contains("'x2' is not an integer"));
  std::ofstream(dir / "ok.json") << R"([{"image": "/data/x/a.png", "scene": "a", "domain_id": 201}])";
  const SceneLabelFile labels = read_scene_label_file((dir / "ok.json").string());
  DatasetList list;
  list.entries.resize(1);
  list.entries[0].image = "x/a.png";  // matched by file name
  apply_scene_labels(list, labels);
  CHECK(list.entries[0].domain_id == 201);
  CHECK(list.domain_names.at(201) == "a");
  list.entries[0].image = "x/c.png";
  REQUIRE_THROWS_WITH(apply_scene_labels(list, labels), Catch::Contains("ok.json") && Catch::Contains("x/c.png"));
  fs::remove_all(dir);
}
