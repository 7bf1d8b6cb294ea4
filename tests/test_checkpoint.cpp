// Training checkpoints: round trip of every section, bit-exact resume, and errors for wrong files.
#include <filesystem>
#include <unistd.h>  // getpid: ctest runs test cases as parallel processes

#include "engine/ema.h"
#include "engine/optim.h"
#include "engine/safetensors.h"
#include "models/sind.h"
#include "tests/testing.h"
#include "training/checkpoint.h"

using namespace iqa;
using namespace iqa::models;
using namespace iqa::testing;
using namespace iqa::training;

namespace {
namespace fs = std::filesystem;

// A tiny SIND model (ViT: no buffers) or ResNet baseline (BatchNorm buffers), an optimizer, an EMA.
struct Run {
  std::shared_ptr<QualityModel> model;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<ExponentialMovingAverage> ema;
  amp::GradScaler scaler{amp::GradScaler::Options{.init_scale = 1024.0, .growth_interval = 2}};

  Run(bool resnet, uint64_t seed) {
    manual_seed(seed);
    if (resnet) model = std::make_shared<SimpleResNetIQA>(ResNetConfig::tiny());
    else model = std::make_shared<LocalGlobalIQA>(VisionTransformerConfig::tiny(16, 32));
    std::vector<ParamGroup> groups{ParamGroup{model->parameters(), 1e-3, 1e-4}};
    if (resnet) opt = std::make_unique<SGD>(groups, SGDOptions{.momentum = 0.9});
    else opt = std::make_unique<Adam>(groups);
    ema = std::make_unique<ExponentialMovingAverage>(model->parameters(), 0.99);
  }

  TrainingState state(int64_t step) {
    TrainingState s;
    s.model = model.get();
    s.optimizer = opt.get();
    s.ema = ema.get();
    s.scaler = &scaler;
    s.rng = &default_generator();
    s.step = step;
    s.epoch = step / 2;
    s.config = {{"model", "tiny"}, {"lr", "0.001"}, {"note", "quotes \" and \\ survive"}};
    return s;
  }

  // Each step draws its batch from the default generator, so resuming needs the RNG state too.
  void train(int steps) {
    for (int i = 0; i < steps; ++i) {
      Tensor xg = Tensor::randn({2, 3, 32, 32}), xl = Tensor::randn({2, 3, 32, 32}), y = Tensor::randn({2, 1});
      Tensor loss = mse_loss(model->score(xg, xl), y);
      opt->zero_grad();
      scaler.scale(loss).backward();
      scaler.step(*opt);
      scaler.update();
      ema->update();
    }
  }
};

void require_identical(const NamedTensors& a, const NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    REQUIRE(a[i].second.dtype() == b[i].second.dtype());
    REQUIRE(a[i].second.to_vector_f64() == b[i].second.to_vector_f64());
  }
}

std::string temp_path(const std::string& name) { return (fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string(); }

}  // namespace

TEST_CASE("a training checkpoint round-trips model, optimizer, EMA, scaler, step, RNG and config", "[checkpoint]") {
  const fs::path dir = fs::temp_directory_path() / ("iqa_test_checkpoint_dir_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "ckpt.safetensors").string();
  for (bool resnet : {false, true}) {
    Run a(resnet, 7);
    a.train(3);
    TrainingState sa = a.state(3);
    save_checkpoint(path, sa);
    // Atomic write: the final file and nothing else (no temp file left behind).
    REQUIRE(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);

    const Generator saved_rng = default_generator();
    Run b(resnet, 99);  // different init and RNG position
    TrainingState sb = b.state(0);
    sb.config.clear();
    load_checkpoint(path, sb);
    require_identical(a.model->state_dict(), b.model->state_dict());
    require_identical(a.opt->state_dict(), b.opt->state_dict());
    require_identical(a.ema->state_dict(), b.ema->state_dict());
    REQUIRE(b.scaler.get_scale() == a.scaler.get_scale());
    REQUIRE(b.scaler.growth_tracker() == a.scaler.growth_tracker());
    REQUIRE(sb.step == 3);
    REQUIRE(sb.epoch == 1);
    REQUIRE(default_generator().seed == saved_rng.seed);
    REQUIRE(default_generator().offset == saved_rng.offset);
    REQUIRE(sb.config == sa.config);
    REQUIRE(read_checkpoint_config(path) == sa.config);
  }
  fs::remove_all(dir);
}

TEST_CASE("resuming from a checkpoint continues bit-exactly", "[checkpoint]") {
  const std::string path = temp_path("iqa_test_resume.safetensors");
  for (bool resnet : {false, true}) {
    INFO((resnet ? "ResNet + SGD" : "ViT + Adam"));
    Run straight(resnet, 11);
    straight.train(5);

    {
      Run first(resnet, 11);
      first.train(2);
      save_checkpoint(path, first.state(2));
    }
    Run resumed(resnet, 12345);
    TrainingState s = resumed.state(0);
    load_checkpoint(path, s);
    resumed.train(3);
    require_identical(straight.model->state_dict(), resumed.model->state_dict());
    require_identical(straight.opt->state_dict(), resumed.opt->state_dict());
    require_identical(straight.ema->state_dict(), resumed.ema->state_dict());
    REQUIRE(straight.scaler.get_scale() == resumed.scaler.get_scale());

    // Without the RNG state the batches differ, so the runs diverge: the test can tell.
    Run no_rng(resnet, 12345);
    TrainingState s2 = no_rng.state(0);
    s2.rng = nullptr;
    load_checkpoint(path, s2);
    no_rng.train(3);
    REQUIRE(straight.model->state_dict()[0].second.to_vector() != no_rng.model->state_dict()[0].second.to_vector());
  }
  fs::remove(path);
}

TEST_CASE("loading a wrong checkpoint names the file and what is wrong", "[checkpoint]") {
  const std::string path = temp_path("iqa_test_bad_ckpt.safetensors");
  Run a(false, 1);
  TrainingState only_model;
  only_model.model = a.model.get();
  save_checkpoint(path, only_model);

  Run b(false, 2);
  TrainingState want_opt = b.state(0);
  std::string msg = error_of([&] { load_checkpoint(path, want_opt); });
  REQUIRE(msg.find(path) != std::string::npos);
  REQUIRE(msg.find("rng.seed") != std::string::npos);  // asked for the RNG, the file has none
  want_opt.rng = nullptr;
  msg = error_of([&] { load_checkpoint(path, want_opt); });
  REQUIRE(msg.find("no 'optimizer' section") != std::string::npos);

  // A model of another shape: the strict model load lists the mismatches.
  Run other(true, 3);
  TrainingState mismatch;
  mismatch.model = other.model.get();
  msg = error_of([&] { load_checkpoint(path, mismatch); });
  REQUIRE(msg.find("missing keys") != std::string::npos);
  REQUIRE(msg.find("clip_model.visual.conv1.weight") != std::string::npos);

  // A safetensors file that is not a training checkpoint.
  save_safetensors(path, {{"w", Tensor::zeros({2})}});
  TrainingState any;
  any.model = b.model.get();
  REQUIRE(error_of([&] { load_checkpoint(path, any); }).find("not an iqa.cu training checkpoint") != std::string::npos);
  REQUIRE_THROWS_AS(save_checkpoint(path, TrainingState{}), Error);  // no model
  fs::remove(path);
}

TEST_CASE("checkpoint config numbers: a damaged value names the file and the key", "[checkpoint]") {
  // Resuming read these with std::stoll / std::stod, whose bare "stoll" named neither.
  const std::map<std::string, std::string> config = {
      {"batches_done", "12"}, {"epoch_loss_sum", "3.5"}, {"resize", "99999999999999999999"}, {"kept_srcc", "nan"},
      {"crop", "224px"},      {"metrics_bytes", "-4"}};
  const std::string path = "run/checkpoints/last.safetensors";
  CHECK(config_integer(config, "batches_done", path, 0, 1000) == 12);
  CHECK(config_number(config, "epoch_loss_sum", path) == 3.5);
  CHECK(config_number({{"sum", "0x1.8p+1"}}, "sum", path) == 3.0);  // the loop's loss sums are hex floats
  CHECK_THAT(error_of([&] { config_integer(config, "resize", path, 1, 65536); }),
             Catch::Contains(path + ": the checkpoint's config 'resize' is '99999999999999999999', not a whole number in 1..65536"));
  CHECK_THAT(error_of([&] { config_integer(config, "crop", path, 1, 65536); }), Catch::Contains("'crop' is '224px'"));
  CHECK_THAT(error_of([&] { config_integer(config, "metrics_bytes", path, 0, 1 << 30); }),
             Catch::Contains("'metrics_bytes' is '-4'"));
  CHECK_THAT(error_of([&] { config_number(config, "kept_srcc", path); }),
             Catch::Contains(path + ": the checkpoint's config 'kept_srcc' is 'nan', not a finite number"));
  CHECK_THAT(error_of([&] { config_number(config, "epoch_loss_count", path); }),
             Catch::Contains(path + ": the checkpoint's config has no 'epoch_loss_count'"));
}
