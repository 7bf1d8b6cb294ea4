// The policy around a SIND run that decides its reported numbers: the reference's evaluation cadence,
// the kept weights (best / val-best EMA weights, bit-exact across a resume), the separate training
// and testing local views, the calibration statistics, and tools/sind-score on a folder of good,
// corrupt and non-image files and on both listing formats.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/safetensors.h"
#include "tests/sind/tiny_run.h"
#include "tests/testing.h"
#include "training/checkpoint.h"
#include "training/metrics.h"
#include "training/sind/eval.h"
#include "training/sind/kept_weights.h"
#include "training/sind/score_inputs.h"

using namespace iqa;
using namespace iqa::training;
using namespace iqa::training::tiny_run;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A leave-one-out style run at the reference's cadence (eval_every 0): 5 epochs, evaluated at 0 and
// 5; trained with the local branch fed the global crop, tested on the mosaic.
struct CadenceRun {
  SindConfig cfg;
  RunResult result;
  CadenceRun() {
    cfg = tiny_config(fresh_dir("iqa_policy_cadence"));
    cfg.eval_every = 0;
    cfg.epochs = 5;
    cfg.local_view = LocalViewMode::SameAsGlobal;
    cfg.test_local_view = LocalViewMode::Mosaic;
    result = train_sind(cfg, tiny_data(), cfg.project_dir, quiet());
  }
  std::string ckpt(const std::string& name) const { return cfg.project_dir + "/checkpoints/" + name; }
};
const CadenceRun& cadence_run() {
  static CadenceRun r;
  return r;
}

// SRCC of the weights in `path` on the run's test subset, scored as sind-score does.
double srcc_of(const std::string& path, LocalViewMode view) {
  const ScoringWeights w = load_scoring_weights(path, false);
  EvalOptions eo;
  eo.data_root = small_set().dir;
  eo.local_view = view;
  const DatasetList list = tiny_data().tests[0].list;
  const Predictions p = predict_dataset(*w.model, list, eo);
  std::vector<double> s;
  for (const auto& e : list.entries) s.push_back(e.score);
  return correlate(p.pred, s).srcc;
}

// Runs tools/sind-score (next to this test binary) with `args`; returns its exit status.
int sind_score(const std::string& args, const std::string& out, const std::string& err) {
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path() / "sind-score";
  const int status = std::system((bin.string() + " --no-progress --device cpu " + args + " > " + out + " 2> " + err).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("evaluation cadence: every 5 epochs for leave-one-out and random-split and every epoch for cross-set unless --eval_every",
          "[train][policy]") {
  SindConfig c;
  c.exp_type = Protocol::LeaveOneOut;
  CHECK(eval_cadence(c) == 5);
  c.exp_type = Protocol::RandomSplit;
  CHECK(eval_cadence(c) == 5);
  c.exp_type = Protocol::CrossSet;
  CHECK(eval_cadence(c) == 1);
  c.eval_every = 2;
  CHECK(eval_cadence(c) == 2);
  c.eval_every = -1;
  REQUIRE_THROWS_WITH(c.validate(), Contains("--eval_every must be >= 0"));

  const CadenceRun& r = cadence_run();
  REQUIRE(r.result.epoch_loss.size() == 6);  // epochs 0..5
  const auto& h = r.result.sets.at(0).history;
  REQUIRE(h.size() == 2);
  CHECK(h[0].epoch == 0);
  CHECK(h[1].epoch == 5);
  int evals = 0;
  std::ifstream jl(r.cfg.project_dir + "/metrics.jsonl");
  for (std::string line; std::getline(jl, line);) evals += line.find("\"type\":\"eval\"") != std::string::npos;
  CHECK(evals == 2);
}

TEST_CASE("kept weights: best.safetensors holds the EMA weights of the reported epoch with its views and calibration",
          "[train][policy]") {
  const CadenceRun& r = cadence_run();
  const EvalPoint best = r.result.sets.at(0).best_on_test();
  const auto stored = read_checkpoint_config(r.ckpt("best.safetensors"));
  CHECK(stored.at("kept") == "best");
  CHECK(stored.at("kept_epoch") == std::to_string(best.epoch));
  CHECK(stored.at("kept_set") == "subset");
  CHECK(stored.at("local_view") == "same-crop");
  CHECK(stored.at("test_local_view") == "mosaic");
  CHECK_FALSE(fs::exists(r.ckpt("val-best.safetensors")));  // no validation split
  // Scored with the mosaic (the run's test view), the kept weights reproduce the summary's number.
  CHECK(srcc_of(r.ckpt("best.safetensors"), LocalViewMode::Mosaic) == Approx(best.srcc).margin(1e-6));
  CHECK(srcc_of(r.ckpt("last.safetensors"), LocalViewMode::Mosaic) == Approx(r.result.sets[0].last().srcc).margin(1e-6));
  const ScoringWeights w = load_scoring_weights(r.ckpt("best.safetensors"), false);
  CHECK(w.config.test_local_view == LocalViewMode::Mosaic);
  CHECK_THAT(w.description, Contains("best (EMA weights of epoch " + std::to_string(best.epoch)));
  REQUIRE_THROWS_WITH(load_scoring_weights(r.ckpt("best.safetensors"), true), Contains("--raw-weights needs"));
  CHECK_THAT(load_scoring_weights(r.ckpt("last.safetensors"), true).description, Contains("last (raw weights of epoch 5"));

  // The training MOS's lower median and mean absolute deviation, as the scale-shift loss computes them.
  std::vector<double> mos;
  for (const auto& e : small_set().list.entries) mos.push_back(e.score);
  const RobustScale m = robust_scale(mos);
  CHECK(robust_scale({4, 1, 3, 2}).median == 2);  // torch.median: the lower middle value
  CHECK(robust_scale({4, 1, 3, 2}).mad == Approx(1.0));
  // The calibration maps the weights' own median prediction on the training images onto the MOS median.
  for (const char* f : {"best.safetensors", "last.safetensors"}) {
    const Calibration cal = load_scoring_weights(r.ckpt(f), false).calibration();
    CHECK(cal.mos.median == m.median);
    CHECK(cal.mos.mad == Approx(m.mad).epsilon(1e-15));
    CHECK(cal.apply(cal.pred.median) == Approx(m.median).epsilon(1e-12));
    CHECK(cal.apply(cal.pred.median + cal.pred.mad) == Approx(m.median + m.mad).epsilon(1e-6));
  }
  REQUIRE_THROWS_WITH(load_scoring_weights(r.ckpt("last.safetensors"), true).calibration(), Contains("--raw-weights"));
  CHECK(calibration_subset(small_set().list, 20).entries.size() == 17);  // every 3rd of 50
}

TEST_CASE("kept weights: val-best per validation split and a resumed run keeps the same files bit for bit",
          "[train][policy]") {
  TrainData data = tiny_data();
  DatasetList val;
  for (size_t i = 1; i < data.train.entries.size(); i += 3) val.entries.push_back(data.train.entries[i]);
  data.vals.push_back({"subset", val});
  SindConfig full = tiny_config(fresh_dir("iqa_policy_kept_full"));
  const RunResult a = train_sind(full, data, full.project_dir, quiet());
  const EvalPoint vb = a.sets.at(0).best_on_val();
  const auto stored = read_checkpoint_config(full.project_dir + "/checkpoints/val-best.safetensors");
  CHECK(stored.at("kept") == "val-best");
  CHECK(stored.at("kept_epoch") == std::to_string(vb.epoch));

  SindConfig part = tiny_config(fresh_dir("iqa_policy_kept_part"));
  TrainHooks stop = quiet();
  stop.stop_after_step = 7;  // inside epoch 1
  REQUIRE(train_sind(part, data, part.project_dir, stop).interrupted);
  part.resume = "auto";
  const RunResult b = train_sind(part, data, part.project_dir, quiet());
  REQUIRE(b.to_json() == a.to_json());
  for (const char* f : {"best.safetensors", "val-best.safetensors", "last.safetensors"}) {
    const auto wa = load_safetensors(full.project_dir + "/checkpoints/" + f);
    const auto wb = load_safetensors(part.project_dir + "/checkpoints/" + f);
    REQUIRE(wa.size() == wb.size());
    for (const auto& [name, t] : wa) {
      INFO(f << " " << name);
      REQUIRE(t.to_vector_f64() == wb.at(name).to_vector_f64());
    }
  }
  // Several test sets: one file per set.
  CHECK(kept_weights_path("run", "best", "for_cross_set/koniq10k", true) == "run/checkpoints/best.for_cross_set_koniq10k.safetensors");
  CHECK(kept_weights_path("run", "val-best", "spaq", false) == "run/checkpoints/val-best.safetensors");
}

TEST_CASE("sind-score: a folder of good and corrupt and non-image files with --calibrate and JSON and both listing formats",
          "[train][policy]") {
  const CadenceRun& r = cadence_run();
  const std::string dir = fresh_dir("iqa_policy_folder"), out = dir + "/../policy_out.txt", err = dir + "/../policy_err.txt";
  fs::create_directories(dir + "/sub");
  const DatasetList& set = small_set().list;
  for (int i = 0; i < 3; ++i) fs::copy_file(small_set().dir + "/" + set.entries[size_t(i)].image, dir + "/good" + std::to_string(i) + ".png");
  fs::copy_file(small_set().dir + "/" + set.entries[3].image, dir + "/sub/no_extension");  // a PNG by its bytes
  std::ofstream(dir + "/broken.jpg") << "not a jpeg";
  std::ofstream(dir + "/notes.txt") << "a note";
  const std::string best = " --checkpoint " + r.ckpt("best.safetensors");

  CHECK(sind_score(best + " --calibrate --format json " + dir, out, err) == 2);
  const nlohmann::json rows = nlohmann::json::parse(read_text(out));
  REQUIRE(rows.size() == 4);  // good0..2 and sub/no_extension
  CHECK(rows[0].at("image") == dir + "/good0.png");
  CHECK(rows[3].at("image") == dir + "/sub/no_extension");
  const Calibration cal = load_scoring_weights(r.ckpt("best.safetensors"), false).calibration();
  for (const auto& row : rows) CHECK(row.at("calibrated").get<double>() == Approx(cal.apply(row.at("score").get<double>())));
  const std::string e = read_text(err);
  CHECK_THAT(e, Contains("weights best (EMA weights of epoch"));
  CHECK_THAT(e, Contains("unreadable: " + dir + "/broken.jpg"));
  CHECK_THAT(e, Contains("1 of 5 image(s) could not be read"));
  CHECK_THAT(e, Contains("ignored 1 file(s) that are not images, e.g. " + dir + "/notes.txt"));

  CHECK(sind_score(best + " --bad-image fail " + dir, out, err) == 1);  // stops at the first
  CHECK_THAT(read_text(err), Contains("broken.jpg"));

  // The reference's test-script listing: image paths only, no domain_id or score.
  const std::string plain = dir + "/../policy_plain.json";
  std::ofstream(plain) << R"({"files": [{"image": ")" << set.entries[0].image << R"("}, {"image": ")"
                       << set.entries[1].image << R"("}]})";
  CHECK(sind_score(best + " --data_root " + small_set().dir + " --data_json " + plain, out, err) == 0);
  CHECK(read_text(out).rfind("image,score\n" + set.entries[0].image + ",", 0) == 0);
  CHECK_THAT(read_text(err), !Contains("PLCC"));  // no scores, no correlation
  // A labelled listing prints SRCC / PLCC (to stderr when the scores go to stdout).
  const std::string labelled = dir + "/../policy_labelled.json";
  write_data_json(labelled, tiny_data().tests[0].list);
  CHECK(sind_score(" --checkpoint " + r.ckpt("last.safetensors") + " --decode fast --data_root " + small_set().dir +
                       " --data_json " + labelled,
                   out, err) == 0);
  CHECK_THAT(read_text(err), Contains("SRCC") && Contains("weights last (EMA weights of epoch 5"));
  CHECK(read_score_listing(plain).list.entries.size() == 2);
  CHECK_FALSE(read_score_listing(plain).labelled);
  CHECK(read_score_listing(labelled).labelled);
}
