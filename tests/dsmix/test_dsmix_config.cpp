// DsmixConfig's choices (enums parsed once, bad values rejected with the allowed spellings) and the
// stages' cross-rank sums.
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "engine/comm_tcp.h"
#include "engine/safetensors.h"
#include "tests/fixture_paths.h"
#include "tests/testing.h"
#include "training/dsmix/common.h"
#include "training/dsmix/config.h"

using namespace iqa;
using namespace iqa::training;
using Catch::Matchers::Contains;

namespace {

// A configuration away from the defaults in several fields, for validation and the JSON round trip.
DsmixConfig non_default_config(DsmixStage stage) {
  DsmixConfig c;
  c.stage = stage;
  c.project_dir = "proj";
  c.references = "refs";
  c.crop = 32;
  c.num_workers = 2;
  c.device = DeviceChoice::CPU;
  c.dsm_model = DsmModel::Tiny;
  c.qe_model = QeModel::Tiny;
  c.types = {1, 11, 21};
  c.holdout = 0.2;
  c.epochs = 3;
  c.batch_size = 6;
  c.images_per_reference = 3;
  c.lr = 0.02;
  return c;
}

}  // namespace

TEST_CASE("DsmixConfig: stage defaults, validation, JSON round trip", "[dsmix][config]") {
  DsmixConfig c;
  c.stage = DsmixStage::DSM;
  c.references = "refs";
  DsmixConfig r = c.resolved();
  CHECK(r.epochs == 10);
  CHECK(r.batch_size == 40);
  CHECK(r.lr == 5e-3);
  CHECK(r.weight_decay == 1e-4);
  c.stage = DsmixStage::QEP;
  r = c.resolved();
  CHECK((r.epochs == 120 && r.batch_size == 110 && r.lr == 0.01 && r.weight_decay == 1e-4));
  REQUIRE_THROWS_WITH(r.validate(), Contains("--dsm_checkpoint"));
  r.dsm_checkpoint = "x";
  r.validate();
  REQUIRE_THROWS_WITH(parse_choice<QepOptimizer>("adam"), "--qep_optimizer must be sgd or adamw, got 'adam'");
  r.qep_optimizer = QepOptimizer::AdamW;
  r.validate();
  c.stage = DsmixStage::LP;
  c.dataset = "tid2013";
  r = c.resolved();
  CHECK((r.epochs == 200 && r.batch_size == 64 && r.lr == 7e-4 && r.weight_decay == 0.01));
  CHECK(lp_default_epochs("csiq") == 100);
  CHECK(lp_default_epochs("data_json/all/koniq10k.json") == 200);
  c.dataset.clear();
  REQUIRE_THROWS_WITH(c.resolved().validate(), Contains("--dataset"));
  DsmixConfig two_sources = non_default_config(DsmixStage::DSM);
  two_sources.kadis_root = "k";
  REQUIRE_THROWS_WITH(two_sources.resolved().validate(), Contains("exactly one of"));
  const DsmixConfig t = non_default_config(DsmixStage::QEP);
  CHECK(DsmixConfig::from_json(t.to_json()) == t);
  REQUIRE_THROWS_WITH(DsmixConfig::from_json("{\"stage\": \"dsm\", \"bogus\": 1}"), Contains("bogus"));
}

TEST_CASE("DsmixConfig: choices are enums, a bad value is rejected with the allowed values", "[dsmix][config]") {
  REQUIRE_THROWS_WITH(parse_choice<LabelSpace>("three-heads"), "--label_space must be two-heads or joint, got 'three-heads'");
  REQUIRE_THROWS_WITH(parse_choice<ScoreNormMode>("rank"), "--score_norm must be zscore, minmax or none, got 'rank'");
  REQUIRE_THROWS_WITH(parse_choice<KadisType8>("drop"), "--kadis_type8 must be with-type8 or literal, got 'drop'");
  REQUIRE_THROWS_WITH(parse_choice<ChannelsLast>("yes"), "--channels_last must be auto, on or off, got 'yes'");
  // fp16 is a spelling of --precision, but dsmix-train runs no GradScaler: validate refuses it.
  DsmixConfig c;
  c.references = "refs";
  c.device = DeviceChoice::CPU;
  c.precision = Precision::FP16;
  REQUIRE_THROWS_WITH(c.resolved().validate(), Contains("--precision must be fp32 or bf16, got 'fp16'"));
  c.precision = Precision::BF16;
  c.label_space = LabelSpace::Joint;
  CHECK(c.to_string_map().at("label_space") == "joint");
  CHECK(c.to_string_map().at("device") == "cpu");
  CHECK(DsmixConfig::from_json(c.to_json()) == c);
  REQUIRE_THROWS_WITH(DsmixConfig::from_json("{\"qep_optimizer\": \"adam\"}"),
                      Contains("key 'qep_optimizer'") && Contains("must be sgd or adamw, got 'adam'"));
}

TEST_CASE("DsmixConfig: stage and model names are enums, old config.json text reads back byte for byte", "[dsmix][config]") {
  // tests/fixtures/configs/dsmix_config.json was written by to_json while stage, dsm_model and
  // qe_model were strings; checkpoints and config.json files of that time hold exactly this text.
  const std::string old_text = testing::read_text(testing::fixture_file("configs/dsmix_config.json"));
  const DsmixConfig c = DsmixConfig::from_json(old_text);
  CHECK(std::tuple{c.stage, c.dsm_model, c.qe_model, c.kadis_type8, c.channels_last, c.label_space, c.qep_optimizer,
                   c.score_norm, c.precision} == std::tuple{DsmixStage::QEP, DsmModel::Tiny, QeModel::Tiny,
                                                            KadisType8::Literal, ChannelsLast::Off, LabelSpace::Joint,
                                                            QepOptimizer::AdamW, ScoreNormMode::MinMax, Precision::BF16});
  CHECK(c.to_json() == old_text);
  CHECK(c.to_string_map().at("stage") == "qep");
  // The defaults still spell the paper's models.
  const DsmixConfig d;
  CHECK(std::string(choice_name(d.stage)) + choice_name(d.dsm_model) + choice_name(d.qe_model) == "dsmvit-b8resnet50");
}

TEST_CASE("DsmixConfig: a bad stage or model name fails at parse, naming the key and the allowed values", "[dsmix][config]") {
  REQUIRE_THROWS_WITH(parse_choice<DsmixStage>("pretrain"), "--stage must be dsm, qep or lp, got 'pretrain'");
  REQUIRE_THROWS_WITH(parse_choice<DsmModel>("vit-b16"), "--dsm_model must be vit-b8 or tiny, got 'vit-b16'");
  REQUIRE_THROWS_WITH(parse_choice<QeModel>("resnet18"), "--qe_model must be resnet50 or tiny, got 'resnet18'");
  REQUIRE_THROWS_WITH(DsmixConfig::from_json("{\"stage\": \"QEP\"}"),
                      "dsmix config.json: key 'stage': --stage must be dsm, qep or lp, got 'QEP'");
  REQUIRE_THROWS_WITH(DsmixConfig::from_json("{\"qe_model\": \"resnet-50\"}"),
                      "dsmix config.json: key 'qe_model': --qe_model must be resnet50 or tiny, got 'resnet-50'");
  // A stage-2 encoder file whose qe_model this build does not know names the file.
  const testing::TempDir dir("dsmix_config");
  const std::string path = dir.file("encoder.safetensors");
  save_safetensors(path, {}, {{"format", "dsmix-encoder"}, {"qe_model", "resnet18"}});
  REQUIRE_THROWS_WITH(load_encoder_backbone(path, QeModel::Tiny),
                      Contains(path + " records qe_model 'resnet18'") && Contains("must be resnet50 or tiny"));
}

TEST_CASE("all_reduce_sums: exact double sums over 2 CPU ranks (TCP), no f64 tensor", "[dsmix][comm]") {
  // 2^24 + 1 and 0.1 have no f32 form: an f32 reduction would return 16777218 and 0.30000001.
  const std::vector<std::vector<double>> values = {{16777217.0, 0.1, -3.5}, {2.0, 0.2, 1e-30}};
  const std::vector<double> expect = {16777219.0, 0.1 + 0.2, -3.5 + 1e-30};
  const int port = dist::find_free_tcp_port();
  std::vector<std::vector<double>> got(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      try {
        dist::LaunchInfo li;
        li.rank = li.local_rank = r;
        li.world_size = 2;
        li.master_port = port;
        li.timeout_s = 30;
        li.launcher = "torchrun";
        auto comm = dist::Communicator::create(li, kCPU);
        got[size_t(r)] = all_reduce_sums(*comm, kCPU, values[size_t(r)]);
      } catch (const std::exception& e) {
        errors[size_t(r)] = e.what();
      }
    });
  for (auto& t : ranks) t.join();
  REQUIRE(errors == std::vector<std::string>{"", ""});
  CHECK(got[0] == expect);
  CHECK(got[1] == expect);
  auto single = dist::Communicator::create(dist::LaunchInfo{}, kCPU);
  CHECK(all_reduce_sums(*single, kCPU, values[0]) == values[0]);
}
