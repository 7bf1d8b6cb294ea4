// Stage 3 (spec §9): linear probing of the frozen quality encoder. Each split trains a fresh head in
// <project_dir>/split_<i> (with its own checkpoints; a finished split's result.json is reused when
// resuming) and reports the last epoch's test SRCC / PLCC (the honest choice) and, labelled as such,
// the best evaluated epoch's (selected on the test set, as SaTQA's code by the same author reports).
// The frozen encoder's features of the fixed test crops are computed once per split and cached.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/amp.h"
#include "engine/atomic_file.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/lr_schedule.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "training/dsmix/common.h"
#include "training/dsmix/lp_data.h"
#include "training/dsmix/trainer.h"
#include "training/metrics.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

struct SplitOutcome {
  double srcc = std::nan(""), plcc = std::nan("");  // the last epoch's
  int64_t count = 0;
  double best_srcc = std::nan(""), best_plcc = std::nan("");  // the epoch with the highest test SRCC
  int best_epoch = -1;
};

// The evaluation with the highest SRCC (the earliest on ties) in a split's history.
void pick_best_epoch(const StageHistory& h, SplitOutcome& o) {
  for (const nlohmann::json& e : h.evals) {
    if (!e.contains("srcc") || !e.at("srcc").is_number()) continue;
    const double s = e.at("srcc").get<double>();
    if (o.best_epoch >= 0 && !(s > o.best_srcc)) continue;
    o.best_srcc = s, o.best_plcc = e.at("plcc").get<double>(), o.best_epoch = e.at("epoch").get<int>();
  }
}

nlohmann::json outcome_json(const SplitOutcome& o) {
  return {{"srcc", o.srcc}, {"plcc", o.plcc}, {"count", o.count},
          {"best_srcc", o.best_srcc}, {"best_plcc", o.best_plcc}, {"best_epoch", o.best_epoch}};
}

SplitOutcome outcome_from(const nlohmann::json& j) {
  SplitOutcome o{j.at("srcc").get<double>(), j.at("plcc").get<double>(), j.at("count").get<int64_t>()};
  if (j.contains("best_epoch"))  // result.json files written before the best epoch was kept lack it
    o.best_srcc = j.at("best_srcc").get<double>(), o.best_plcc = j.at("best_plcc").get<double>(),
    o.best_epoch = j.at("best_epoch").get<int>();
  return o;
}

std::string f4(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

}  // namespace

StageResult train_lp(const DsmixConfig& input, const TrainHooks& hooks) {
  StageEnv env = open_stage(input, DsmixStage::LP);
  const DsmixConfig cfg = env.cfg;  // env.cfg changes per split

  const DatasetList list = load_lp_listing(cfg);
  const bool disjoint = lp_content_disjoint(list, cfg.dataset);
  validate_dataset(list, cfg.data_root, "dsmix-train lp " + cfg.dataset);
  const std::vector<Split> splits = lp_splits(list, disjoint, cfg.splits, cfg.seed, cfg.train_fraction);

  // The frozen encoder: the stage-2 export (or checkpoint), or a random initialisation (a baseline).
  manual_seed(cfg.seed);
  std::string enc_summary;
  std::shared_ptr<models::ResNet> encoder =
      cfg.encoder.empty() ? std::make_shared<models::ResNet>(backbone_config(cfg.qe_model))
                          : load_encoder_backbone(cfg.encoder, cfg.qe_model, &enc_summary);
  if (cfg.encoder.empty()) enc_summary = std::string("encoder ") + choice_name(cfg.qe_model) + ": random initialisation (no --encoder; a baseline)";
  for (auto& t : encoder->parameters()) t.set_requires_grad(false);
  encoder->to(env.device);
  encoder->eval();
  const int64_t feat = encoder->config.feature_dim(), crop = cfg.crop;
  // The decoded images, stored whole the first time (every split and epoch crops the same photos).
  const std::string cache_dir = cfg.cache_dir == "auto" ? cfg.project_dir + "/view_cache" : cfg.cache_dir;
  const std::unique_ptr<ViewCache> cache = cache_dir.empty() ? nullptr : std::make_unique<ViewCache>(cache_dir);
  env.log->line("lp: " + cfg.dataset + ", " + std::to_string(list.entries.size()) + " images, " + std::to_string(cfg.splits) +
                " random " + f4(cfg.train_fraction) + " splits " + (disjoint ? "by reference content" : "by image") +
                ", targets " + choice_name(cfg.score_norm) + ", " + std::to_string(cfg.epochs) + " epochs; " + enc_summary);

  auto features = [&](const Tensor& x_host) {
    NoGradGuard ng;
    amp::AutocastGuard ac(DType::BF16, env.autocast());
    return encoder->features(x_host.to(env.device)).pooled.to(DType::F32);
  };

  StageResult r;
  std::vector<double> srccs, plccs, best_srccs, best_plccs;
  for (size_t k = 0; k < splits.size(); ++k) {
    const std::string name = "split_" + std::to_string(k + 1);
    const std::string dir = cfg.project_dir + "/" + name, result_path = dir + "/result.json";
    const Split& sp = splits[k];
    SplitOutcome outcome;
    if (!cfg.resume.empty() && fs::exists(result_path)) {
      std::ifstream f(result_path);
      try {
        outcome = outcome_from(nlohmann::json::parse(f));
      } catch (const nlohmann::json::exception& e) {
        fail(cat("dsmix-train: ", result_path, " (a finished split's result, reused by --resume): ", e.what(),
                 "; delete it to train that split again"));
      }
    } else {
      env.open_run(dir);
      if (cfg.splits > 1 && hooks.progress && env.main_rank) std::cout << "== " << name << " ==" << std::endl;
      DsmixConfig split_cfg = cfg;
      if (!cfg.resume.empty() && cfg.resume != "auto" && cfg.splits > 1) split_cfg.resume = "auto";
      env.cfg = split_cfg;
      const ScoreNorm norm = fit_score_norm(sp.train, cfg.score_norm);
      std::vector<float> targets;
      for (const auto& e : sp.train.entries) targets.push_back(float(norm.apply(e.score)));

      manual_seed(cfg.seed + k);
      auto head = std::make_shared<models::LinearProbeHead>(feat, 512);
      head->to(env.device);
      head->train();
      std::vector<Tensor> params = head->parameters();
      AdamW opt({ParamGroup{params, cfg.lr, cfg.weight_decay}});

      LoaderOptions lo;
      lo.workers = cfg.num_workers;
      lo.seed = cfg.seed + k;
      const std::string root = cfg.data_root;
      const DatasetList& train = sp.train;
      const DatasetList& test = sp.test;
      Loader loader(int64_t(train.entries.size()), {size_t(3 * crop * crop)},
                    [&train, root, crop, &cache](int64_t i, uint64_t key, float* const* p) {
                      render_lp_train_view(resolve_image_path(root, train.entries[size_t(i)].image), key, int(crop), p[0],
                                           cache.get());
                    },
                    lo);
      Loader test_loader(int64_t(test.entries.size()), {size_t(5 * 3 * crop * crop)},
                         [&test, root, crop, &cache](int64_t i, uint64_t, float* const* p) {
                           render_lp_five_crops(resolve_image_path(root, test.entries[size_t(i)].image), int(crop), p[0],
                                                cache.get());
                         },
                         lo);
      ShuffledSampler sampler(int64_t(train.entries.size()),
                              ShuffledSamplerOptions{cfg.batch_size, env.world, env.rank, cfg.seed + k});
      const int64_t per_epoch = sampler.batches_per_rank();
      const CosineAnnealing schedule(std::max<int64_t>(1, per_epoch * cfg.epochs));

      // Test features of this rank's share, computed at the first evaluation: [n_i * 5, feat] per batch.
      std::vector<std::pair<std::vector<int64_t>, Tensor>> test_cache;
      auto evaluate = [&](int) {
        NoGradGuard ng;
        if (test_cache.empty()) {
          std::vector<int64_t> all(test.entries.size());
          for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
          std::vector<std::pair<std::vector<int64_t>, Tensor>> computed;  // kept only once complete
          for_each_evaluation_batch(test_loader, eval_batches(all, cfg.batch_size, env.rank, env.world), env.world,
                                    [&](const Batch& b) {
            computed.emplace_back(b.indices, features(b.plane_tensor(0, {5, 3, crop, crop}).reshape({b.size * 5, 3, crop, crop})));
          });
          test_cache = std::move(computed);
        }
        EvaluationScope scope(*head);
        const int64_t n = int64_t(test.entries.size());
        std::vector<double> buf(size_t(2 * n), 0.0);  // predictions, then a mask of the scored entries
        for (const auto& [idx, f] : test_cache) {
          const Tensor pred = mean(head->forward(f).reshape({int64_t(idx.size()), 5}), {1}).to(kCPU);
          const std::vector<double> p = pred.to_vector_f64();
          for (size_t i = 0; i < idx.size(); ++i) buf[size_t(idx[i])] = p[i], buf[size_t(n + idx[i])] = 1;
        }
        buf = all_reduce_sums(*env.comm, env.device, buf);
        std::vector<double> pred, score;
        for (int64_t i = 0; i < n; ++i)
          if (buf[size_t(n + i)] > 0.5) pred.push_back(buf[size_t(i)]), score.push_back(test.entries[size_t(i)].score);
        const Correlation c = correlate(pred, score);
        EpochEval ev;
        ev.fields = {{"split", "test"}, {"srcc", c.srcc}, {"plcc", c.plcc}, {"count", c.count}};
        ev.line = "test SRCC " + f4(c.srcc) + " PLCC " + f4(c.plcc) + " (" + std::to_string(c.count) + " images, 5 crops)";
        ev.plotted = {{"test SRCC", c.srcc}};
        return ev;
      };

      EpochLoop loop;
      loop.plot_title = "DSMix stage 3: linear probe on " + cfg.dataset + " (" + name + ")";
      loop.model = head.get();
      loop.optimizer = &opt;
      loop.params = params;
      loop.loader = &loader;
      loop.batches_per_epoch = per_epoch;
      loop.epoch_batches = [&](int epoch) { return sampler.epoch_batches(uint64_t(epoch)); };
      loop.schedule = [&](int, int64_t step) { schedule.apply(opt, step); };
      loop.loss = [&](const Batch& b, int64_t) {
        std::vector<float> t;
        for (int64_t i : b.indices) t.push_back(targets[size_t(i)]);
        const Tensor f = features(b.plane_tensor(0, {3, crop, crop}));
        const Tensor pred = head->forward(f).reshape({int64_t(b.size)});
        return smooth_l1_loss(pred, Tensor::from_vector(t, {int64_t(t.size())}).to(env.device));
      };
      env.log->line(name + ": " + std::to_string(train.entries.size()) + " train / " + std::to_string(test.entries.size()) +
                    " test images; targets = (score - " + f4(norm.shift) + ") / " + f4(norm.scale));
      const StageResult lr = run_stage_loop(env, loop, evaluate, hooks, {"srcc", "plcc", "count"});
      r.history = lr.history;
      if (lr.interrupted) {
        r.interrupted = true;
        r.lines.push_back("interrupted in " + name + "; rerun with --resume auto to continue");
        return r;
      }
      outcome = {lr.metrics.at("srcc"), lr.metrics.at("plcc"), int64_t(lr.metrics.at("count"))};
      pick_best_epoch(lr.history, outcome);
      // Read back by a resumed run: whole or absent, never half written.
      if (env.main_rank) write_file_atomically(result_path, outcome_json(outcome).dump() + "\n", "dsmix-train");
    }
    srccs.push_back(outcome.srcc);
    plccs.push_back(outcome.plcc);
    best_srccs.push_back(outcome.best_srcc);
    best_plccs.push_back(outcome.best_plcc);
    r.metrics["srcc_" + std::to_string(k + 1)] = outcome.srcc;
    r.metrics["plcc_" + std::to_string(k + 1)] = outcome.plcc;
    r.metrics["best_srcc_" + std::to_string(k + 1)] = outcome.best_srcc;
    r.lines.push_back("  " + name + ": SRCC " + f4(outcome.srcc) + "  PLCC " + f4(outcome.plcc) + "  (" +
                      std::to_string(outcome.count) + " test images, last epoch); best epoch " +
                      std::to_string(outcome.best_epoch) + ": SRCC " + f4(outcome.best_srcc) + "  PLCC " +
                      f4(outcome.best_plcc) + " (selected on the test set)");
  }
  r.metrics["median_srcc"] = median(srccs);
  r.metrics["median_plcc"] = median(plccs);
  r.metrics["best_median_srcc"] = median(best_srccs);
  r.metrics["best_median_plcc"] = median(best_plccs);
  r.lines.insert(r.lines.begin(),
                 "stage 3 (lp) on " + cfg.dataset + ": median over " + std::to_string(splits.size()) + " splits SRCC " +
                     f4(r.metrics["median_srcc"]) + "  PLCC " + f4(r.metrics["median_plcc"]) + " (last epoch); SRCC " +
                     f4(r.metrics["best_median_srcc"]) + "  PLCC " + f4(r.metrics["best_median_plcc"]) +
                     " (best epoch per split, selected on the test set: optimistic)  [" + enc_summary + "]");
  env.open_run(cfg.project_dir);
  if (env.main_rank) {
    std::string text;
    for (const auto& l : r.lines) text += l + "\n";
    write_file_atomically(cfg.project_dir + "/summary.txt", text, "dsmix-train");
  }
  for (const auto& l : r.lines) env.log->line(l);
  return r;
}

}  // namespace iqa::training
