// The reference's --load_from (training/sind/load_from.h): a trained model's weights, and nothing else,
// go into a fresh run. From a sind-train checkpoint the EMA weights come in (what that run evaluated),
// from an exported reference state dict its tensors; PyTorch files and other models are refused.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "engine/random.h"
#include "engine/safetensors.h"
#include "tests/data/reference_fixtures.h"
#include "tests/sind/tiny_run.h"
#include "training/sind/load_from.h"
#include "training/sind/model.h"

using namespace iqa;
using namespace iqa::training;
using namespace iqa::training::tiny_run;
using Catch::Contains;

namespace {

std::vector<std::vector<float>> trained_values(const models::QualityModel& m) {
  const ParamSplit s = split_sind_parameters(m);
  std::vector<std::vector<float>> v;
  for (const auto* group : {&s.backbone, &s.head})
    for (const Tensor& p : *group) v.push_back(p.to_vector());
  return v;
}

}  // namespace

TEST_CASE("sind-train --load_from: a checkpoint's EMA weights or an exported state dict into a fresh run", "[train][cli]") {
  SindConfig a = tiny_config(fresh_dir("iqa_load_from_a"));
  a.epochs = 1;
  a.warmup_epoch = 0;
  train_sind(a, tiny_data(), a.project_dir, quiet());
  const std::string last = a.project_dir + "/checkpoints/last.safetensors";
  const auto saved = load_safetensors(last);

  // The EMA shadows (backbone group first, then the head: the EMA's parameter order) come in, not the
  // raw weights; they differ after an epoch, so the check can tell them apart.
  manual_seed(99);
  auto fresh = make_sind_model(a);
  CHECK_THAT(load_sind_weights_only(*fresh, a, last), Contains("EMA weights of epoch 1"));
  const auto loaded = trained_values(*fresh);
  REQUIRE(loaded.size() > 10);
  size_t differs_from_raw = 0;
  const auto named = fresh->named_parameters();
  for (size_t i = 0; i < loaded.size(); ++i) REQUIRE(loaded[i] == saved.at("ema.shadow." + std::to_string(i)).to_vector());
  for (const auto& [name, p] : named) differs_from_raw += p.to_vector() != saved.at("model." + name).to_vector();
  CHECK(differs_from_raw > 0);

  // A state dict without checkpoint metadata (tools/export_weights.py's output of a reference .pth).
  fixtures::FixtureDir dir("load_from");
  NamedTensors state;
  for (const auto& [name, t] : saved)
    if (name.rfind("model.", 0) == 0) state.emplace_back(name.substr(6), t);
  const std::string exported = dir.str("exported.safetensors");
  save_safetensors(exported, state);
  manual_seed(7);
  auto other = make_sind_model(a);
  load_sind_weights_only(*other, a, exported);
  for (const auto& [name, p] : other->named_parameters()) REQUIRE(p.to_vector() == saved.at("model." + name).to_vector());

  // Refusals: another model, a PyTorch pickle.
  REQUIRE(a.local_global);  // the tiny runs use LocalGlobalClipIQA
  SindConfig simple = a;
  simple.local_global = false;
  auto simple_model = make_sind_model(simple);
  CHECK_THAT(fixtures::error_message_of([&] { load_sind_weights_only(*simple_model, simple, last); }),
             Contains("holds a tiny --local_global model; this run builds tiny"));
  const std::string pth = dir.write("model_epoch035.pth", "PK");
  CHECK_THAT(fixtures::error_message_of([&] { load_sind_weights_only(*other, a, pth); }),
             Contains("python3 tools/export_weights.py " + pth) && Contains("PyTorch file"));

  const std::string encoder = dir.str("encoder.safetensors");
  save_safetensors(encoder, {{"x", Tensor::zeros({2})}}, {{"format", "dsmix-encoder"}});
  CHECK_THAT(fixtures::error_message_of([&] { load_sind_weights_only(*other, a, encoder); }),
             Contains("metadata format 'dsmix-encoder' is neither a sind-train checkpoint nor an exported state dict"));

  // Through the trainer: train.log names the file, and the run starts at epoch 0 (no resume).
  SindConfig b = tiny_config(fresh_dir("iqa_load_from_b"));
  b.epochs = 1;
  b.load_from = last;
  const RunResult r = train_sind(b, tiny_data(), b.project_dir, quiet());
  std::stringstream log;
  log << std::ifstream(b.project_dir + "/train.log").rdbuf();
  CHECK_THAT(log.str(), Contains("load_from: " + last + ": last (EMA weights of epoch 1"));
  CHECK_THAT(log.str(), !Contains("resumed from"));
  CHECK(r.epoch_loss.front().first == 0);
}
