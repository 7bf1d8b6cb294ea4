// sind-train's command line (tools/sind_flags.h): the reference's flag names and --clip_model
// spellings, no silent random init for the full-size models, the tools' one-line errors, the SIND
// README's example commands parsed and planned as they are, on a synthetic data_json tree, and the
// reference's test-script commands through sind-score's flags (tools/sind_score_flags.h).
#include <catch2/catch.hpp>

#include <filesystem>

#include "engine/safetensors.h"
#include "tests/data/reference_fixtures.h"
#include "tools/sind_flags.h"
#include "tools/sind_score_flags.h"
#include "tools/tool_error.h"
#include "training/sind/kept_weights.h"
#include "training/sind/protocols.h"
#include "training/sind/score_inputs.h"

using namespace iqa;
using namespace iqa::training;
using Catch::Contains;

namespace {

// Parses a command line (argv[0] first) through sind-train's flags; throws CLI::Error on a bad one.
SindConfig parse(std::vector<std::string> argv) {
  CLI::App app{"sind-train"};
  SindConfig c;
  add_sind_flags(app, c);
  std::vector<char*> ptrs;
  for (auto& a : argv) ptrs.push_back(a.data());
  app.parse(int(ptrs.size()), ptrs.data());
  return c;
}

std::string listing(int n, int first_domain, int domains) {
  std::string s = R"({"files": [)";
  for (int i = 0; i < n; ++i)
    s += std::string(i ? "," : "") + R"({"image": "img)" + std::to_string(i) + R"(.jpg", "score": )" +
         std::to_string(1 + i) + R"(, "domain_id": )" + std::to_string(first_domain + i % domains) + "}";
  return s + "]}";
}

// Runs fn with the working directory at dir (the README's commands use ./data_json and ./weights).
template <class F>
void in_dir(const std::string& dir, F&& fn) {
  const auto old = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  try {
    fn();
  } catch (...) {
    std::filesystem::current_path(old);
    throw;
  }
  std::filesystem::current_path(old);
}

}  // namespace

TEST_CASE("sind-train flags: the reference's --clip_model spellings map to the model names", "[train][cli]") {
  for (const char* s : {"openai/ViT-B-16", "ViT-B-16", "ViT-B-16-quickgelu", "openai/ViT-B-16-quickgelu"})
    CHECK(parse({"sind-train", "--clip_model", s}).clip_model == ClipModel::ViTB16);
  CHECK(parse({"sind-train", "--clip_model", "resnet50"}).clip_model == ClipModel::ResNet50);
  CHECK(parse({"sind-train", "--clip_model", "tiny16"}).clip_model == ClipModel::Tiny16);
  REQUIRE_THROWS_WITH(parse({"sind-train", "--clip_model", "openai/ViT-L-14"}),
                      Contains("--clip_model must be one of openai/ViT-B-16 |") && Contains("got 'openai/ViT-L-14'"));
  CLI::App app{"sind-train"};
  SindConfig c;
  add_sind_flags(app, c);
  const std::string help = app.help();
  for (const char* s : {"openai/ViT-B-16", "ViT-B-16-quickgelu", "resnet50", "--json_dir", "--mixed_precision",
                        "--clip_freeze", "--ema_decay", "--input_size", "--from_scratch"})
    CHECK_THAT(help, Contains(s));
}

TEST_CASE("sind-train flags: --json_dir --input_size --mixed_precision --ema_decay --clip_freeze", "[train][cli]") {
  const SindConfig c = parse({"sind-train", "--json_dir", "/x/data_json", "--input_size", "224", "--mixed_precision",
                              "fp16", "--ema_decay", "0.995", "--clip_freeze"});
  CHECK(c.json_root == "/x/data_json");
  CHECK(c.input_size == 224);
  CHECK(c.precision == Precision::FP16);
  CHECK(c.ema_decay == 0.995);
  CHECK(c.clip_freeze);
  CHECK(parse({"sind-train", "--mixed_precision", "no"}).precision == Precision::FP32);
  CHECK(parse({"sind-train", "--json_root", "/y"}).json_root == "/y");
  REQUIRE_THROWS_WITH(parse({"sind-train", "--mixed_precision", "fp8"}), Contains("must be no, fp16 or bf16, got 'fp8'"));
  REQUIRE_THROWS(parse({"sind-train", "--mixed_precision", "fp16", "--precision", "bf16"}));  // one or the other

  SindConfig big = parse({"sind-train", "--clip_model", "tiny", "--input_size", "384", "--train_dataset", "spaq"});
  REQUIRE_THROWS_WITH(big.validate(), Contains("--input_size must be 224 (the crop size of tiny), got 384"));
  big.input_size = 224;
  big.ema_decay = 1.5;
  REQUIRE_THROWS_WITH(big.validate(), Contains("--ema_decay must be in [0, 1]"));
  // The new fields survive config.json.
  REQUIRE(SindConfig::from_json(c.to_json()) == c);
}

TEST_CASE("sind-train flags: the reference's argparse defaults", "[train][cli]") {
  // ablation_exp.sh's "our_notalign" run gives neither --loss_type nor --scene_sampling: the
  // reference's defaults make it the l1 baseline without scene sampling, and so must ours.
  const SindConfig c = parse({"sind-train", "--clip_model", "tiny", "--epochs", "35", "--batch_size", "64",
                              "--local_global", "--train_dataset", "spaq", "--exp_type", "cross-set"});
  CHECK(c.loss_type == LossType::L1);
  CHECK(c.scene_sampling == 0);
  CHECK_NOTHROW(c.validate());
  const SindConfig d = parse({"sind-train"});
  CHECK(d.project_dir == "exp_log/debug");
  CHECK(d.json_root == "./data_json");
  CHECK(d.data_root == "./data");
  CHECK(d.clip_model == ClipModel::ViTB16);  // openai/ViT-B-16
  CHECK((d.epochs == 35 && d.batch_size == 64 && d.warmup_epoch == 5 && d.input_size == 224));
  CHECK((d.lr == 1e-5 && d.lr_ratio == 1 && d.weight_decay == 1e-5 && d.ema_decay == 0.99));
  CHECK((d.precision == Precision::FP32 && d.start_epoch == 0 && !d.dataset_domain && !d.clip_freeze));
}

TEST_CASE("sind-train flags: --resume_from --load_from --start_epoch", "[train][cli]") {
  // --resume_from is --resume (the reference parses it; its load_state call is commented out).
  CHECK(parse({"sind-train", "--resume_from", "run/checkpoints/last.safetensors"}).resume ==
        "run/checkpoints/last.safetensors");
  CHECK(parse({"sind-train", "--resume", "auto"}).resume == "auto");
  REQUIRE_THROWS(parse({"sind-train", "--resume", "a", "--resume_from", "b"}));  // one flag, given twice

  fixtures::FixtureDir dir("cli_load_from");
  const std::string weights = dir.write("best.safetensors", "x");
  SindConfig c = parse({"sind-train", "--clip_model", "openai/ViT-B-16", "--load_from", weights, "--train_dataset",
                        "spaq", "--start_epoch", "0"});
  CHECK(c.load_from == weights);
  CHECK(c.start_epoch == 0);
  CHECK_NOTHROW(c.validate());  // the loaded model's weights are not a random init
  REQUIRE(SindConfig::from_json(c.to_json()) == c);
  c.load_from = dir.str("absent.safetensors");
  CHECK_THAT(fixtures::error_message_of([&] { c.validate(); }), Contains("--load_from " + c.load_from + " does not exist"));

  // --start_epoch N > 0: the reference then runs epochs N..E afresh; the message names both halves.
  SindConfig s = parse({"sind-train", "--clip_model", "tiny", "--train_dataset", "spaq", "--epochs", "35",
                        "--start_epoch", "5"});
  const std::string msg = fixtures::error_message_of([&] { s.validate(); });
  CHECK_THAT(msg, Contains("--start_epoch 5: use --resume FILE (or --resume_from FILE)") &&
                      Contains("--load_from FILE --epochs 30"));
}

TEST_CASE("sind-train: no silent random init for ViT-B-16 ViT-B-8 and resnet50", "[train][cli]") {
  fixtures::FixtureDir dir("cli_weights");
  for (const char* model : {"ViT-B-16", "ViT-B-8", "resnet50"}) {
    SindConfig c = parse({"sind-train", "--clip_model", model, "--train_dataset", "spaq"});
    use_default_weights(c, dir.str("weights"));  // nothing there yet
    const std::string msg = fixtures::error_message_of([&] { c.validate(); });
    CHECK_THAT(msg, Contains(std::string("--clip_model ") + model + " needs pretrained weights") &&
                        Contains("tools/export_weights.py") && Contains("--from_scratch"));
    c.from_scratch = true;
    CHECK_NOTHROW(c.validate());
  }
  SindConfig tiny = parse({"sind-train", "--clip_model", "tiny", "--train_dataset", "spaq"});
  CHECK_NOTHROW(tiny.validate());  // the tiny models have no pretrained weights to ask for

  // The default file is picked up when present; a named file that is absent is an error.
  const std::string file = dir.write("weights/clip_vit_b16.safetensors", "x");
  SindConfig c = parse({"sind-train", "--clip_model", "openai/ViT-B-16", "--train_dataset", "spaq"});
  use_default_weights(c, dir.str("weights"));
  CHECK(c.pretrained == file);
  CHECK_NOTHROW(c.validate());
  c.pretrained = dir.str("weights/missing.safetensors");
  CHECK_THAT(fixtures::error_message_of([&] { c.validate(); }), Contains("missing.safetensors does not exist"));
}

TEST_CASE("tools print one error line without repeating their name", "[train][cli]") {
  CHECK(tools::error_line("sind-train", "sind-train: invalid configuration: x") == "error: invalid configuration: x");
  CHECK(tools::error_line("make-splits", "spaq: bad row") == "error: spaq: bad row");
  CHECK(tools::error_line("sind-train", "sind-training: y") == "error: sind-training: y");
}

TEST_CASE("the SIND README's example commands parse and plan unchanged", "[train][cli]") {
  fixtures::FixtureDir dir("cli_readme");
  // A data_json tree in the reference's layout: two leave-one-out folds of SPAQ, the cross-set files.
  dir.write("data_json/for_leave_one_out/spaq/test_for_100_Animal/train.json", listing(6, 101, 3));
  dir.write("data_json/for_leave_one_out/spaq/test_for_100_Animal/test.json", listing(2, 100, 1));
  dir.write("data_json/for_leave_one_out/spaq/test_for_101_Cityscape/train.json", listing(6, 102, 3));
  dir.write("data_json/for_leave_one_out/spaq/test_for_101_Cityscape/test.json", listing(3, 101, 1));
  dir.write("data_json/for_cross_set/train/spaq_train.json", listing(8, 100, 4));
  dir.write("data_json/for_cross_set/train/koniq10k_train.json", listing(5, 300, 5));
  dir.write("data_json/for_cross_set/test/spaq_test.json", listing(2, 100, 2));
  dir.write("data_json/for_cross_set/test/koniq10k_test.json", listing(3, 300, 3));
  for (const char* ds : {"livec", "live", "bid", "cid2013"})
    dir.write(std::string("data_json/for_cross_set/test/") + ds + ".json", listing(4, 200, 1));
  // random_split/<ds>/<i>/{train,val,test}.json (split_follow_liqe.py's layout) for the intra-dataset
  // example's six sets, 10 splits, each set's scenes numbered from its registry base (koniq10k 300, ...).
  const std::vector<std::pair<std::string, int>> mixed = {{"koniq10k", 300}, {"livec", 400}, {"bid", 500},
                                                          {"kadid10k", 600}, {"csiq", 800},  {"live", 700}};
  for (int i = 1; i <= 10; ++i)
    for (const auto& [ds, base] : mixed) {
      const std::string d = "data_json/random_split/" + ds + "/" + std::to_string(i) + "/";
      dir.write(d + "train.json", listing(3, base + 1, 3));
      dir.write(d + "test.json", listing(2, base + 1, 2));
      dir.write(d + "val.json", listing(1, base + 1, 1));
    }
  dir.write("weights/clip_vit_b16.safetensors", "exported by tools/export_weights.py");

  const std::vector<std::string> common = {
      "sind-train", "--clip_model", "openai/ViT-B-16", "--epochs", "35", "--lr", "1e-5", "--warmup_epoch", "5",
      "--weight_decay", "1e-5", "--batch_size", "64", "--local_global", "--loss_type", "scale_shift",
      "--scene_sampling", "2"};
  auto command = [&](std::vector<std::string> tail) {
    std::vector<std::string> argv = common;
    argv.insert(argv.end(), tail.begin(), tail.end());
    return argv;
  };
  const auto leave_one_out = command({"--project_dir", "./exp_log/leave_one_out/our_epoch35_bs128_spaq",
                                      "--train_dataset", "spaq", "--test_dataset", "spaq", "--exp_type", "leave-one-out"});
  const auto cross_spaq = command({"--project_dir", "./exp_log/cross-set/our_epoch35_bs128_spaq", "--train_dataset",
                                   "spaq", "--test_dataset", "koniq10k", "spaq", "livec", "live", "bid", "cid2013",
                                   "--exp_type", "cross-set"});
  const auto cross_both = command({"--project_dir", "./exp_log/cross-set/our_epoch35_bs128_spaq_koniq_dataset",
                                   "--train_dataset", "spaq", "koniq10k", "--test_dataset", "koniq10k", "spaq", "livec",
                                   "live", "bid", "cid2013", "--exp_type", "cross-set", "--dataset_domain"});
  const auto random_split = command({"--project_dir", "./exp_log/random-split/our_epoch35_bs128_all_dataset",
                                     "--train_dataset", "koniq10k", "livec", "bid", "kadid10k", "csiq", "live",
                                     "--test_dataset", "koniq10k", "livec", "bid", "kadid10k", "csiq", "live",
                                     "--exp_type", "random-split", "--dataset_domain"});
  in_dir(dir.str(), [&] {
    auto planned = [](const std::vector<std::string>& argv) {
      SindConfig c = parse(argv);
      use_default_weights(c, "./weights");  // as tools/sind-train.cpp does
      c.validate();
      CHECK(c.clip_model == ClipModel::ViTB16);
      CHECK(c.pretrained == "./weights/clip_vit_b16.safetensors");
      return std::make_pair(c, plan_protocol(c));
    };
    const auto [loo_cfg, loo] = planned(leave_one_out);
    CHECK(loo_cfg.exp_type == Protocol::LeaveOneOut);
    REQUIRE(loo.size() == 2);
    CHECK(loo[0].name == "test_for_100_Animal");
    CHECK(loo[1].data.tests.at(0).list.entries.size() == 3);

    const auto [spaq_cfg, spaq] = planned(cross_spaq);
    REQUIRE(spaq.size() == 1);
    CHECK(spaq[0].data.train.entries.size() == 8);
    REQUIRE(spaq[0].data.tests.size() == 6);
    CHECK(spaq[0].data.tests[0].list.entries.size() == 3);  // koniq10k_test.json

    const auto [both_cfg, both] = planned(cross_both);
    CHECK(both_cfg.dataset_domain);
    REQUIRE(both.size() == 1);
    CHECK(both[0].data.train.entries.size() == 13);
    std::set<int> domains;
    for (const auto& e : both[0].data.train.entries) domains.insert(e.domain_id);
    CHECK(domains.size() == 5);  // koniq10k as one dataset domain (3), SPAQ's 4 scenes kept

    const auto [rs_cfg, rs] = planned(random_split);
    CHECK(rs_cfg.exp_type == Protocol::RandomSplit);
    REQUIRE(rs.size() == 10);  // the reference's range(1, 11)
    CHECK(rs[9].name == "split_10");
    CHECK(rs[0].data.train.entries.size() == 4 * 3 + 2 * 4 * 3);  // LIVE and CSIQ four times, as the reference
    REQUIRE(rs[0].data.tests.size() == 6);
    CHECK(rs[0].data.tests[4].name == "csiq");
    CHECK(rs[0].data.tests[4].list.entries.size() == 2);  // tests are not oversampled
    CHECK(rs[0].data.vals.size() == 6);                   // val.json read for the val-best weights
    std::set<int> dataset_domains;
    for (const auto& e : rs[0].data.train.entries) dataset_domains.insert(e.domain_id);
    CHECK(dataset_domains == std::set<int>{3, 4, 5, 6, 7, 8});  // domain_id / 100 per dataset
  });
}

TEST_CASE("sind-train flags: --local_view sets both views and --train_local_view / --test_local_view override it",
          "[train][cli][policy]") {
  SindConfig c = parse({"sind-train", "--local_view", "same-crop"});
  CHECK((c.local_view == LocalViewMode::SameAsGlobal && c.test_local_view == LocalViewMode::SameAsGlobal));
  c = parse({"sind-train", "--test_local_view", "same-crop", "--local_view", "mosaic"});  // order on the line is irrelevant
  CHECK((c.local_view == LocalViewMode::Mosaic && c.test_local_view == LocalViewMode::SameAsGlobal));
  c = parse({"sind-train", "--train_local_view", "same-crop"});
  CHECK((c.local_view == LocalViewMode::SameAsGlobal && c.test_local_view == LocalViewMode::Mosaic));
  CHECK(parse({"sind-train"}).eval_every == 0);  // the reference's cadence per protocol
  CHECK(parse({"sind-train", "--eval_every", "3"}).eval_every == 3);
}

namespace {

tools::ScoreFlags parse_score(std::vector<std::string> argv) {
  CLI::App app{"sind-score"};
  tools::ScoreFlags f;
  tools::add_score_flags(app, f);
  std::vector<char*> ptrs;
  for (auto& a : argv) ptrs.push_back(a.data());
  app.parse(int(ptrs.size()), ptrs.data());
  return f;
}

}  // namespace

TEST_CASE("the reference's test-script commands (infer_demo.sh) run through sind-score's flags", "[train][cli]") {
  fixtures::FixtureDir dir("cli_score");
  const std::string livec = dir.write("data_json/for_cross_set/test/livec.json", listing(4, 200, 1));
  // for json_file in data_json/for_cross_set/test/*.json: test_IQA.py --batch_size 8 --data_dir ./data
  //   --json_file $json_file --model_path $model_ckpt
  tools::ScoreFlags f = parse_score({"sind-score", "--batch_size", "8", "--data_dir", "./data", "--json_file", livec,
                                     "--model_path", "model_epoch035.safetensors"});
  CHECK(f.checkpoint == "model_epoch035.safetensors");
  CHECK(f.data_json == livec);
  CHECK(f.data_root == "./data");  // the listing's root, as the reference's os.path.join(data_dir, image)
  CHECK(f.inputs.empty());
  CHECK(f.batch_size == 8);
  const ScoreInputs in = read_score_listing(f.data_json);
  CHECK(in.labelled);
  CHECK(in.list.entries.size() == 4);

  // test_IQA.py --batch_size 8 --data_dir data/HUAWEI_test --model_path $model_ckpt: a folder to score.
  f = parse_score({"sind-score", "--batch_size", "8", "--data_dir", "data/HUAWEI_test", "--model_path", "m.safetensors"});
  CHECK(f.inputs == std::vector<std::string>{"data/HUAWEI_test"});
  CHECK(f.data_json.empty());

  // --save_dir and --input_size as the reference's; contradictions are refused.
  f = parse_score({"sind-score", "--checkpoint", "m.safetensors", "--save_dir", "results", "x.jpg", "--input_size", "224"});
  CHECK(f.out == (std::filesystem::path("results") / "sind_scores.csv").string());
  REQUIRE_THROWS_WITH(parse_score({"sind-score", "--model_path", "m", "--input_size", "384", "x.jpg"}),
                      Contains("must be 224") && Contains("got 384"));
  REQUIRE_THROWS_WITH(parse_score({"sind-score", "--model_path", "m", "--save_dir", "d", "--out", "o.csv", "x.jpg"}),
                      Contains("--save_dir or --out, not both"));
  REQUIRE_THROWS_WITH(parse_score({"sind-score", "--model_path", "m", "--json_file", livec, "--data_dir", "a",
                                   "--data_root", "b"}),
                      Contains("it and --data_root differ"));
  REQUIRE_THROWS(parse_score({"sind-score", "--model_path", "a", "--checkpoint", "b", "x.jpg"}));  // one option

  // A safetensors file without a format (tools/export_weights.py's) is read as the reference's state
  // dict for test_IQA.py's model, ViT-B-16 LocalGlobalClipIQA: a wrong one fails naming the file.
  const std::string exported = dir.str("exported.safetensors");
  save_safetensors(exported, {{"head.x", Tensor::zeros({2})}}, {{"converted_by", "tools/export_weights.py"}});
  CHECK_THAT(fixtures::error_message_of([&] { load_scoring_weights(exported, false); }),
             Contains("cannot load into LocalGlobalClipIQA") && Contains(exported));
  CHECK_THAT(fixtures::error_message_of([&] { load_scoring_weights(exported, true); }),
             Contains("is a state dict, not a sind-train checkpoint"));

  // The reference's checkpoint is a torch .pth: the message says how to convert it.
  const std::string pth = dir.write("model_epoch035.pth", "PK");
  CHECK_THAT(fixtures::error_message_of([&] { load_scoring_weights(pth, false); }),
             Contains("--checkpoint " + pth + " is a PyTorch file") && Contains("tools/export_weights.py " + pth));
}
