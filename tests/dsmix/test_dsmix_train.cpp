// dsmix-train: the configuration, the stage-2 losses on hand-made cases (DSMix label weighting with
// known sensitivity maps, distillation), and each stage end to end on tiny data (tiny networks at
// 32x32 crops): loss falls, outputs are written, a resumed stage-1 run equals an uninterrupted one, a
// NaN stops naming the step, the stage-2 encoder exports with torchvision names and loads into
// sind-train's resnet50 backbone, stage 3 reports medians and reuses finished splits on resume.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>  // getpid: ctest runs test cases as parallel processes

#include "engine/optim.h"
#include "engine/safetensors.h"
#include "models/checkpoint_names.h"
#include "tests/dsmix/tiny_stage.h"
#include "tests/testing.h"
#include "training/checkpoint.h"
#include "training/dsmix/common.h"
#include "training/dsmix/demo.h"
#include "training/dsmix/lp_data.h"
#include "training/dsmix/qep_loss.h"
#include "training/dsmix/trainer.h"
#include "training/image/encode.h"
#include "training/sind/model.h"

using namespace iqa;
using namespace iqa::training;
namespace fs = std::filesystem;
using iqa::testing::read_text;
using Catch::Matchers::Contains;
using namespace iqa::testing::dsmix_tiny;

TEST_CASE("DSMix batch: label weights from known sensitivity maps", "[dsmix][qep]") {
  // Sample 0 (type 3, level 2, all zeros) and sample 1 (type 7, level 5, all ones) share a reference;
  // sample 2 is pristine. Sensitivity: 0.1 everywhere on sample 0, 0.3 on sample 1, 5 on sample 2.
  const int s = 16;
  Tensor images = Tensor::zeros({3, 3, s, s});
  images.narrow(0, 1, 1).copy_(Tensor::ones({1, 3, s, s}));
  images.narrow(0, 2, 1).copy_(Tensor::full({1, 3, s, s}, 0.5));
  std::vector<float> maps;
  for (float v : {0.1f, 0.3f, 5.0f})
    for (int i = 0; i < 4; ++i) maps.push_back(v);
  DsmixOptions opts;
  opts.mix = 2;
  const MixedBatch mb = make_dsmix_batch(images, {3, 7, 0}, {2, 5, 0}, {0, 0, 0}, maps, 2, 2, opts, false, 11);
  REQUIRE(mb.boxes.size() == 3);
  REQUIRE(mb.boxes[2].empty());  // pristine samples are never mixed
  REQUIRE(mb.boxes[0].size() == 1);
  const DsmixBox& b = mb.boxes[0][0];
  REQUIRE(b.source == 1);  // the only non-pristine partner of the same reference
  const double area = double(b.y1 - b.y0) * double(b.x1 - b.x0), total = double(s) * s;
  // λ_0 = Σ(V_0 S_0) / (Σ(V_0 S_0) + Σ(V_1 S_1)) with constant maps: 0.1 (HW - A) / (0.1 (HW - A) + 0.3 A).
  const double lambda0 = 0.1 * (total - area) / (0.1 * (total - area) + 0.3 * area);
  const std::vector<float> type_t = mb.type_targets.to_vector(), level_t = mb.level_targets.to_vector();
  CHECK(type_t[3] == Approx(lambda0).margin(1e-6));
  CHECK(type_t[7] == Approx(1 - lambda0).margin(1e-6));
  CHECK(level_t[2] == Approx(lambda0).margin(1e-6));
  CHECK(level_t[5] == Approx(1 - lambda0).margin(1e-6));
  CHECK(type_t[26 * 2 + 0] == 1.0f);  // the pristine sample keeps its hard class 0
  CHECK(level_t[6 * 2 + 0] == 1.0f);
  // The box holds sample 1's pixels, the rest sample 0's.
  const Tensor mixed = mb.images.contiguous();
  const float* px = mixed.data<float>();
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) {
      const bool inside = y >= b.y0 && y < b.y1 && x >= b.x0 && x < b.x1;
      REQUIRE(px[size_t(y) * s + x] == (inside ? 1.0f : 0.0f));
    }

  // Joint label space: classes 1 + (3-1)*5 + (2-1) = 12 and 1 + (7-1)*5 + (5-1) = 35.
  const MixedBatch joint = make_dsmix_batch(images, {3, 7, 0}, {2, 5, 0}, {0, 0, 0}, maps, 2, 2, opts, true, 11);
  const std::vector<float> jt = joint.joint_targets.to_vector();
  CHECK(jt[12] == Approx(lambda0).margin(1e-6));
  CHECK(jt[35] == Approx(1 - lambda0).margin(1e-6));
  // Mix = 1: no boxes, one-hot targets, images untouched.
  opts.mix = 1;
  const MixedBatch plain = make_dsmix_batch(images, {3, 7, 0}, {2, 5, 0}, {0, 0, 0}, {}, 2, 2, opts, false, 11);
  CHECK(plain.mixed == 0);
  CHECK(plain.type_targets.to_vector()[3] == 1.0f);
}

TEST_CASE("distillation loss: MAE and channel cosine distance over the four stages", "[dsmix][qep]") {
  // At every stage: student (1, 0) and teacher (0, 1) at one location -> MAE 1, cosine 0 (distance 1);
  // a second location with an all-zero student gives cosine 0 too (clamped norm), MAE mean(1, 1) = 1.
  auto feat = [](std::vector<float> v) { return Tensor::from_vector(v, {1, 2, 1, 2}).set_requires_grad(true); };
  models::ResNetFeatures st, te;
  Tensor* sp[4] = {&st.layer1, &st.layer2, &st.layer3, &st.layer4};
  Tensor* tp[4] = {&te.layer1, &te.layer2, &te.layer3, &te.layer4};
  for (int i = 0; i < 4; ++i) {
    *sp[i] = feat({1, 0, 0, 0});  // channel 0: (1, 0) over the two locations; channel 1: (0, 0)
    *tp[i] = feat({0, 1, 1, 1});  // channel 0: (0, 1); channel 1: (1, 1)
  }
  // Location 0: s = (1, 0), t = (0, 1): cos 0. Location 1: s = (0, 0), t = (1, 1): cos 0 (clamped).
  // MAE per stage: mean(|1-0|, |0-1|, |0-1|, |0-1|) = 1; cosine distance per stage: 1 - 0 = 1.
  KdTerms terms;
  Tensor loss = distillation_loss(st, te, 0.5, 2.0, &terms);
  CHECK(terms.mae.item() == Approx(4.0));
  CHECK(terms.cosd.item() == Approx(4.0));
  CHECK(loss.item() == Approx(0.5 * 4 + 2.0 * 4));
  loss.backward();
  for (Tensor* t : sp)
    for (float g : t->grad().to_vector()) REQUIRE(std::isfinite(g));
  // Identical features: zero loss.
  for (int i = 0; i < 4; ++i) *sp[i] = feat({0.3f, -1, 2, 0.5f}), *tp[i] = feat({0.3f, -1, 2, 0.5f});
  CHECK(distillation_loss(st, te, 1, 1).item() == Approx(0).margin(1e-6));
}

TEST_CASE("on-the-fly samples: the crop's range is normalised before the ground truth", "[dsmix][dsm]") {
  // A reference spanning only [0.3, 0.6]: kadis_distort min-max stretches what it outputs, so comparing
  // its output with the unstretched crop measured the stretch (a mean |D - R| near 0.2 for a level-1
  // blur, sigma 0.1, which changes almost nothing). The ground truth compares against the stretched crop.
  const std::string dir = fresh_dir("low_range");
  fs::create_directories(dir);
  ImageU8 ref = procedural_reference(48, 48, 11);
  for (auto& v : ref.pixels) v = uint8_t(77 + int(v) * 77 / 255);
  write_png(dir + "/low.png", ref);
  const KadisSet set = plan_on_the_fly(dir, {1}, {1}, 1, 0, /*include_references=*/true);
  REQUIRE(set.samples.size() == 2);
  SampleRenderOptions ro;
  ro.crop = 32;
  std::vector<float> image(3 * 32 * 32), map(16);
  for (size_t i = 0; i < set.samples.size(); ++i) {
    render_dsm_sample(set, int64_t(i), 7, ro, image.data(), map.data());
    double mean_map = 0;
    for (float v : map) mean_map += v / 16.0;
    INFO("sample " << i << " (type " << set.samples[i].type << ")");
    CHECK(mean_map < 0.01);
    // Pristine and distorted renders both span [0, 1] (no range cue tells them apart).
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    double lo = 1e9, hi = -1e9;
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 32 * 32; ++k) {
        const double v = image[size_t(c) * 1024 + size_t(k)] * std[c] + mean[c];
        lo = std::min(lo, v), hi = std::max(hi, v);
      }
    CHECK(lo == Approx(0.0).margin(1e-4));
    CHECK(hi == Approx(1.0).margin(1e-4));
  }
}

// The tiny sensitivity-map predictor can learn a map from what it sees: on pure Gaussian noise of a
// random per-image strength s, the target map is 0.1 s everywhere. Measured: the loss falls from
// ~4e-3 to a mean of 3.8e-5 over steps 60-79 (the targets' variance is 6.75e-4). The demo's stage 1 does not
// get there on 32 procedural contents (see the README): that is the data, not the network.
TEST_CASE("DSM predictor (tiny) learns a noise-strength map", "[dsmix][dsm]") {
  manual_seed(0);
  models::DSMPredictor m(models::DSMPredictorConfig::tiny(64));
  m.train();
  AdamW opt({ParamGroup{m.parameters(), 1e-3, 1e-4}});
  const double target_var = 0.09 * 0.09 / 12;  // 0.1 s, s ~ U[0.1, 1]
  double late = 0;
  const int steps = 80, averaged = 20;
  for (int step = 0; step < steps; ++step) {
    Tensor s = add(mul(Tensor::rand({8, 1, 1, 1}), 0.9), 0.1);
    Tensor x = mul(Tensor::randn({8, 3, 64, 64}), s.expand({8, 3, 64, 64}));
    Tensor loss = mse_loss(m.forward(x), mul(s.expand({8, 1, 8, 8}), 0.1).contiguous());
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step >= steps - averaged) late += loss.item() / averaged;
  }
  INFO("mean loss over the last " << averaged << " steps " << late << ", target variance " << target_var);
  CHECK(late < 0.2 * target_var);
}

TEST_CASE("stage dsm: loss falls, outputs, bit-exact resume, NaN names the step", "[dsmix][dsm]") {
  const DsmixConfig a = tiny_config(DsmixStage::DSM, fresh_dir("dsm_a"));
  const StageResult ra = train_dsm(a, quiet());
  REQUIRE(ra.history.epoch_loss.size() == 2);
  CHECK(ra.history.epoch_loss[1].second < ra.history.epoch_loss[0].second);
  CHECK(std::isfinite(ra.metrics.at("map_mse")));
  CHECK(ra.metrics.at("map_mae") > 0);
  for (const char* f : {"train.log", "metrics.jsonl", "config.json", "curves.svg", "checkpoints/last.safetensors"})
    CHECK(fs::exists(a.project_dir + "/" + f));
  CHECK_THAT(read_text(a.project_dir + "/metrics.jsonl"), Contains("\"map_mse\""));

  // Interrupted mid-epoch 1 (after step 7 of 10), then resumed: the same weights and losses.
  DsmixConfig b = tiny_config(DsmixStage::DSM, fresh_dir("dsm_b"));
  TrainHooks stop = quiet();
  stop.stop_after_step = 7;
  REQUIRE(train_dsm(b, stop).interrupted);
  b.resume = "auto";
  const StageResult rb = train_dsm(b, quiet());
  REQUIRE_FALSE(rb.interrupted);
  CHECK(rb.history.epoch_loss == ra.history.epoch_loss);
  CHECK(rb.metrics.at("map_mse") == ra.metrics.at("map_mse"));
  const auto wa = checkpoint_model(a.project_dir + "/checkpoints/last.safetensors");
  const auto wb = checkpoint_model(b.project_dir + "/checkpoints/last.safetensors");
  REQUIRE(wa.size() == wb.size());
  for (const auto& [name, t] : wa) require_equal(wb.at(name), t, name);
  // The log too: the baseline's training-map mean covers the steps before the stop (RunningSums).
  const std::string metrics_a = read_text(a.project_dir + "/metrics.jsonl");
  CHECK_THAT(metrics_a, Contains("\"mean_map_mse\""));
  CHECK(read_text(b.project_dir + "/metrics.jsonl") == metrics_a);

  // A non-finite loss stops the run, naming the step.
  DsmixConfig c = tiny_config(DsmixStage::DSM, fresh_dir("dsm_nan"));
  TrainHooks nan = quiet();
  nan.on_loss = [](int64_t step, Tensor& loss) {
    if (step == 3) loss = mul(loss, std::nan(""));
  };
  REQUIRE_THROWS_WITH(train_dsm(c, nan), Contains("non-finite loss") && Contains("at step 3"));
}

TEST_CASE("stage qep: DSMix + distillation, accuracy, encoder export", "[dsmix][qep]") {
  DsmixConfig c = tiny_config(DsmixStage::QEP, fresh_dir("qep"));
  c.dsm_checkpoint = dsm_checkpoint();
  // A "teacher" with torchvision names and an fc (skipped), like an ImageNet ResNet-50 export.
  manual_seed(5);
  models::ResNet teacher(models::ResNetConfig::tiny(10));
  c.teacher = c.project_dir + "_teacher.safetensors";
  save_safetensors(c.teacher, teacher.state_dict());
  const StageResult r = train_qep(c, quiet());
  REQUIRE(r.history.epoch_loss.size() == 3);
  CHECK(r.history.epoch_loss.back().second < r.history.epoch_loss.front().second);
  for (const char* k : {"type_acc", "level_acc", "joint_acc"}) {
    CHECK(r.metrics.at(k) >= 0);
    CHECK(r.metrics.at(k) <= 1);
  }
  const std::string log = read_text(c.project_dir + "/train.log");
  CHECK_THAT(log, Contains("distillation: on"));
  const nlohmann::json last = r.history.evals.back();
  CHECK(last.at("train_kd_mae").get<double>() > 0);
  CHECK(last.at("train_mixed_fraction").get<double>() > 0.3);  // most distorted samples got boxes
  CHECK(last.at("train_pristine_fraction").get<double>() > 0);

  // encoder.safetensors holds the checkpoint's backbone under torchvision names.
  const std::string enc = c.project_dir + "/encoder.safetensors";
  REQUIRE(fs::exists(enc));
  std::string summary;
  auto backbone = load_encoder_backbone(enc, QeModel::ResNet50, &summary);  // the file says tiny
  CHECK(backbone->config.feature_dim() == models::ResNetConfig::tiny(0).feature_dim());
  const auto ckpt = checkpoint_model(c.project_dir + "/checkpoints/last.safetensors");
  for (const auto& [name, t] : backbone->state_dict()) require_equal(t, ckpt.at("backbone." + name), name);
  // BatchNorm's running statistics travel with the weights (state_dict includes buffers), and they
  // are the trained ones, not the initial zeros.
  double running_mean_abs = 0;
  for (float v : backbone->bn1->running_mean.to_vector()) running_mean_abs += std::abs(v);
  CHECK(running_mean_abs > 0);
  // The stage-2 checkpoint itself is accepted as --encoder too.
  auto from_ckpt = load_encoder_backbone(c.project_dir + "/checkpoints/last.safetensors", QeModel::ResNet50);
  require_equal(from_ckpt->conv1->weight, backbone->conv1->weight, "conv1 from checkpoint");

  // Joint label space, no teacher, no mixing: one epoch runs and says distillation is off.
  DsmixConfig j = tiny_config(DsmixStage::QEP, fresh_dir("qep_joint"));
  j.label_space = LabelSpace::Joint;
  j.mix = 1;
  j.epochs = 1;
  const StageResult rj = train_qep(j, quiet());
  CHECK(std::isfinite(rj.history.epoch_loss.at(0).second));
  CHECK_THAT(read_text(j.project_dir + "/train.log"), Contains("distillation: off"));
}

TEST_CASE("the stage-2 encoder export loads into sind-train's resnet50 backbone", "[dsmix][qep]") {
  manual_seed(9);
  models::QualityEncoder qe(models::QualityEncoderConfig{});  // ResNet-50
  const std::string path = fresh_dir("export") + "/encoder.safetensors";
  export_encoder(qe, QeModel::ResNet50, path);
  SindConfig sc;
  sc.clip_model = ClipModel::ResNet50;
  sc.pretrained = path;
  auto model = make_sind_model(sc);
  const std::string summary = load_sind_pretrained(*model, sc);
  CHECK_THAT(summary, Contains("loaded"));
  auto* rn = dynamic_cast<models::SimpleResNetIQA*>(model.get());
  REQUIRE(rn != nullptr);
  require_equal(rn->clip_model->conv1->weight, qe.backbone->conv1->weight, "conv1");
  require_equal(rn->clip_model->layer4->state_dict().back().second, qe.backbone->layer4->state_dict().back().second,
                "layer4 last buffer");
}

TEST_CASE("stage lp: views, splits by reference, medians, reuse on resume", "[dsmix][lp]") {
  const std::string data = fresh_dir("lp_data");
  const DatasetList list = make_demo_iqa_set(data, 5, 40, 40, 4);  // 5 refs x 6 types x 5 levels
  REQUIRE(list.entries.size() == 150);

  // Five crops of a 40x36 image at 32: corners and centre (torchvision FiveCrop order).
  ImageU8 img(40, 36, 3);
  for (int y = 0; y < 36; ++y)
    for (int x = 0; x < 40; ++x)
      for (int ch = 0; ch < 3; ++ch) img.at(y, x, ch) = uint8_t((x * 5 + y * 3 + ch) % 251);
  write_png(data + "/grid.png", img);
  std::vector<float> crops(5 * 3 * 32 * 32);
  render_lp_five_crops(data + "/grid.png", 32, crops.data());
  const int ox[5] = {0, 8, 0, 8, 4}, oy[5] = {0, 0, 4, 4, 2};
  for (int k = 0; k < 5; ++k) {
    const float expect = (float(img.at(oy[k], ox[k], 0)) / 255.0f - 0.485f) / 0.229f;
    CHECK(crops[size_t(k) * 3 * 32 * 32] == Approx(expect).margin(1e-5));
  }
  REQUIRE_THROWS_WITH(render_lp_five_crops(data + "/grid.png", 48, crops.data()), Contains("smaller than"));

  // Content-disjoint 80/20 splits and the target normalisation.
  const std::vector<Split> splits = lp_splits(list, lp_content_disjoint(list, data + "/all.json"), 2, 0, 0.8);
  for (const Split& sp : splits) {
    std::set<std::string> train_refs;
    for (const auto& e : sp.train.entries) train_refs.insert(e.reference);
    for (const auto& e : sp.test.entries) REQUIRE(train_refs.count(e.reference) == 0);
    CHECK(sp.test.entries.size() == 30);
  }
  DatasetList three;
  for (double v : {1.0, 2.0, 6.0}) three.entries.push_back(DatasetEntry{"x", v});
  CHECK(fit_score_norm(three, ScoreNormMode::ZScore).apply(3.0) == Approx(0.0));
  CHECK(fit_score_norm(three, ScoreNormMode::ZScore).scale == Approx(std::sqrt(14.0 / 3.0)));
  CHECK(fit_score_norm(three, ScoreNormMode::MinMax).apply(6.0) == Approx(1.0));
  CHECK(fit_score_norm(three, ScoreNormMode::None).apply(6.0) == 6.0);  // --score_norm none: raw MOS

  DsmixConfig c = tiny_config(DsmixStage::LP, fresh_dir("lp"));
  c.references.clear();
  c.types.clear();
  c.dataset = data + "/all.json";
  c.data_root = data;
  c.epochs = 3;
  c.batch_size = 16;
  c.lr = 2e-3;
  c.splits = 2;
  const StageResult r = train_lp(c, quiet());
  REQUIRE_FALSE(r.interrupted);
  CHECK(r.history.epoch_loss.back().second < r.history.epoch_loss.front().second);
  CHECK(std::isfinite(r.metrics.at("median_srcc")));
  CHECK(r.metrics.at("median_srcc") == Approx((r.metrics.at("srcc_1") + r.metrics.at("srcc_2")) / 2));
  // The best epoch (selected on the test set) is at least the last one, and reported labelled.
  for (const char* k : {"1", "2"}) CHECK(r.metrics.at(std::string("best_srcc_") + k) >= r.metrics.at(std::string("srcc_") + k));
  CHECK(r.metrics.at("best_median_srcc") >= r.metrics.at("median_srcc"));
  CHECK_THAT(r.lines.front(), Contains("(best epoch per split, selected on the test set: optimistic)"));
  CHECK_THAT(read_text(c.project_dir + "/split_1/result.json"), Contains("\"best_epoch\""));
  for (const char* f : {"summary.txt", "split_1/result.json", "split_2/result.json", "split_2/curves.svg",
                        "split_2/checkpoints/last.safetensors"})
    CHECK(fs::exists(c.project_dir + "/" + f));
  CHECK_THAT(read_text(c.project_dir + "/train.log"), Contains("random initialisation"));
  // Resuming reuses the finished splits' results.
  c.resume = "auto";
  const StageResult again = train_lp(c, quiet());
  CHECK(again.metrics.at("median_srcc") == r.metrics.at("median_srcc"));
  CHECK(again.metrics.at("median_plcc") == r.metrics.at("median_plcc"));
  // A damaged result is named, with what to do, instead of a bare JSON parse error.
  std::ofstream(c.project_dir + "/split_2/result.json") << "{\"srcc\": 0.5, \"pl";
  CHECK_THROWS_WITH(train_lp(c, quiet()), Contains(c.project_dir + "/split_2/result.json (a finished split's result") &&
                                              Contains("delete it to train that split again"));

  // A stop as split 1's first evaluation starts, the one that computes the test features (the later
  // ones reuse them and finish): the resumed run gives the same results and the same split log.
  DsmixConfig s = c;
  s.project_dir = fresh_dir("lp_eval_stop");
  s.resume.clear();
  TrainHooks in_eval = quiet();
  in_eval.stop_in_evaluation = 0;
  REQUIRE(train_lp(s, in_eval).interrupted);
  clear_stop();
  CHECK_THAT(read_text(s.project_dir + "/split_1/train.log"), Contains("stopped during the evaluation after epoch 0"));
  s.resume = "auto";
  const StageResult resumed = train_lp(s, quiet());
  REQUIRE_FALSE(resumed.interrupted);
  CHECK(resumed.metrics.at("median_srcc") == r.metrics.at("median_srcc"));
  CHECK(resumed.metrics.at("best_median_srcc") == r.metrics.at("best_median_srcc"));
  CHECK(read_text(s.project_dir + "/split_1/metrics.jsonl") == read_text(c.project_dir + "/split_1/metrics.jsonl"));
}

// The demo's claim at a reduced size (fewer epochs, a smaller IQA set, 2 probe splits): the linear
// probe on the stage-2 encoder predicts the synthetic MOS clearly better than the same probe on a
// randomly initialised encoder. Measured at this size for seed 0: SRCC 0.597 against 0.167 with
// stage 2's batches of distinct samples (0.488 against 0.167 when each reference was padded with
// duplicates; the best epoch, selected on the test set, gives 0.600 against 0.268). The full
// demo's gain varies with the seed (probe SRCC 0.49-0.62 against 0.14-0.17 for seeds 0-2, README), so
// this pins one seed and guards against the pipeline breaking, not against that spread.
TEST_CASE("dsmix demo, reduced: pre-training beats a random encoder under the linear probe", "[dsmix][demo]") {
  DsmixConfig base;
  base.project_dir = fresh_dir("demo");
  base.device = DeviceChoice::CPU;
  base.num_workers = 2;
  base.seed = 0;
  DemoSize size;
  size.lp_references = 16;
  size.dsm_epochs = 4;  // 800 steps on the demo's 400 stage-1 references
  size.qep_epochs = 8;  // on the demo's 120 stage-2 references
  size.lp_epochs = 15;
  size.lp_splits = 2;
  const DemoResult r = run_demo_stages(base, size, quiet());
  REQUIRE_FALSE(r.interrupted);
  const double pre = r.lp.metrics.at("median_srcc"), rnd = r.lp_random.metrics.at("median_srcc");
  INFO("probe SRCC: DSMix encoder " << pre << ", random encoder " << rnd << "; stage 2 type accuracy "
                                    << r.qep.metrics.at("type_acc"));
  // Stage 1 learns maps: measured at seed 0, 0.00070 against 0.00124 for the mean map (0.57x). A
  // predictor that learns nothing lands at 0.97-1.05x (the plain tiny ViT, measured); seeds leave the
  // initial plateau at different steps (seed 1: 0.91x after these 800 steps), hence the margin.
  CHECK(r.dsm.metrics.at("map_mse") < 0.93 * r.dsm.metrics.at("mean_map_mse"));
  CHECK(pre > rnd + 0.3);
  CHECK(pre > 0.5);
  CHECK(r.qep.metrics.at("type_acc") > 1.0 / 7.0);
}

