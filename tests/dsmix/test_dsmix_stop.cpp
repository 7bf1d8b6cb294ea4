// dsmix-train stopped and resumed (training/epoch_loop.cpp, training/dsmix/loop.cpp): a stop as an
// evaluation starts ends it before its first batch (check_evaluation_stop), and a stop mid-epoch
// or there resumes to the uninterrupted run's weights, encoder and metrics.jsonl byte for byte, the
// training terms logged with each evaluation included (RunningSums). Stage 1's mid-epoch stop and stage
// 3's stop during its first evaluation are in test_dsmix_train.cpp, beside those stages' other checks.
#include <string>

#include "models/resnet.h"
#include "tests/dsmix/tiny_stage.h"
#include "tests/testing.h"
#include "training/dsmix/trainer.h"

using namespace iqa;
using namespace iqa::training;
using iqa::testing::read_text;
using Catch::Matchers::Contains;
using namespace iqa::testing::dsmix_tiny;

TEST_CASE("stage dsm: a stop as the evaluation starts resumes to the same weights and log", "[dsmix][dsm]") {
  const DsmixConfig a = tiny_config(DsmixStage::DSM, fresh_dir("dsm_eval_stop_ref"));
  const StageResult ra = train_dsm(a, quiet());
  REQUIRE_FALSE(ra.interrupted);
  const std::string metrics_a = read_text(a.project_dir + "/metrics.jsonl");
  const auto wa = checkpoint_model(a.project_dir + "/checkpoints/last.safetensors");

  // Stopped as epoch 0's evaluation starts: it ends before its first batch, the run is saved as after
  // epoch 0's last step, and the resumed run evaluates again and ends the same.
  DsmixConfig e = tiny_config(DsmixStage::DSM, fresh_dir("dsm_eval_stop"));
  TrainHooks in_eval = quiet();
  in_eval.stop_in_evaluation = 0;
  const StageResult cut = train_dsm(e, in_eval);
  clear_stop();
  REQUIRE(cut.interrupted);
  CHECK_THAT(read_text(e.project_dir + "/train.log"), Contains("stopped during the evaluation after epoch 0"));
  CHECK(read_text(e.project_dir + "/metrics.jsonl").find("\"type\":\"eval\"") == std::string::npos);
  e.resume = "auto";
  const StageResult re = train_dsm(e, quiet());
  REQUIRE_FALSE(re.interrupted);
  CHECK(re.history.epoch_loss == ra.history.epoch_loss);
  CHECK(read_text(e.project_dir + "/metrics.jsonl") == metrics_a);
  const auto we = checkpoint_model(e.project_dir + "/checkpoints/last.safetensors");
  for (const auto& [name, t] : wa) require_equal(we.at(name), t, name);
}

TEST_CASE("stage qep: a stop mid-epoch or during the evaluation resumes to the same weights and log",
          "[dsmix][qep]") {
  auto config = [](const std::string& name) {
    DsmixConfig c = tiny_config(DsmixStage::QEP, fresh_dir(name));
    c.dsm_checkpoint = dsm_checkpoint();
    c.epochs = 2;
    manual_seed(5);
    models::ResNet teacher(models::ResNetConfig::tiny(10));
    c.teacher = c.project_dir + "_teacher.safetensors";
    save_safetensors(c.teacher, teacher.state_dict());
    return c;
  };
  const DsmixConfig a = config("qep_stop_ref");
  REQUIRE_FALSE(train_qep(a, quiet()).interrupted);
  const std::string metrics_a = read_text(a.project_dir + "/metrics.jsonl");
  // The training terms logged with each evaluation (RunningSums) are in the log being compared.
  CHECK_THAT(metrics_a, Contains("\"train_kd_mae\"") && Contains("\"train_mixed_fraction\""));
  const auto wa = checkpoint_model(a.project_dir + "/checkpoints/last.safetensors");
  size_t step_records = 0;
  for (size_t at = metrics_a.find("\"type\":\"step\""); at != std::string::npos; at = metrics_a.find("\"type\":\"step\"", at + 1))
    ++step_records;
  REQUIRE(step_records >= 4);  // two epochs of at least two steps: a stop after step 1 is mid-epoch

  for (const char* how : {"mid-epoch", "in evaluation"}) {
    DYNAMIC_SECTION(how) {
      DsmixConfig b = config(std::string("qep_stop_") + (how[0] == 'm' ? "step" : "eval"));
      TrainHooks stop = quiet();
      if (how[0] == 'm') stop.stop_after_step = 1;
      else stop.stop_in_evaluation = 0;
      REQUIRE(train_qep(b, stop).interrupted);
      clear_stop();
      b.resume = "auto";
      REQUIRE_FALSE(train_qep(b, quiet()).interrupted);
      CHECK(read_text(b.project_dir + "/metrics.jsonl") == metrics_a);
      const auto wb = checkpoint_model(b.project_dir + "/checkpoints/last.safetensors");
      REQUIRE(wb.size() == wa.size());
      for (const auto& [name, t] : wa) require_equal(wb.at(name), t, name);
      CHECK(read_text(b.project_dir + "/encoder.safetensors") == read_text(a.project_dir + "/encoder.safetensors"));
    }
  }
}
