#include "training/sind/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "engine/amp.h"
#include "engine/comm.h"
#include "engine/ema.h"
#include "engine/error.h"
#include "engine/lr_schedule.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "training/data/loader.h"
#include "training/checkpoint.h"
#include "training/metrics.h"
#include "training/run_log.h"
#include "training/data/scene_sampler.h"
#include "training/sind/eval.h"
#include "training/sind/kept_weights.h"
#include "training/sind/model.h"
#include "training/sind/load_from.h"

namespace iqa::training {
namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

// Scores a listing across ranks: each rank predicts its share, the shares are summed over ranks.
std::vector<double> predict_all(models::QualityModel& model, const DatasetList& list, EvalOptions eo,
                                dist::Communicator& comm, Device device) {
  const Predictions p = predict_dataset(model, list, eo);
  const int64_t n = int64_t(list.entries.size());
  std::vector<float> buf(size_t(2 * n), 0.0f);  // predictions, then a mask of the scored entries
  for (size_t i = 0; i < p.index.size(); ++i) {
    buf[size_t(p.index[i])] = float(p.pred[i]);
    buf[size_t(n + p.index[i])] = 1.0f;
  }
  Tensor t = Tensor::from_vector(buf, {2 * n}).to(device);
  comm.all_reduce_sum(t);
  const std::vector<double> all = t.to_vector_f64();
  std::vector<double> out(size_t(n), std::nan(""));
  for (int64_t i = 0; i < n; ++i)
    if (all[size_t(n + i)] > 0.5) out[size_t(i)] = all[size_t(i)];
  return out;
}

EvalPoint evaluate_set(models::QualityModel& model, const DatasetList& list, const EvalOptions& eo,
                       dist::Communicator& comm, Device device) {
  const std::vector<double> pred = predict_all(model, list, eo, comm, device);
  std::vector<double> p, s;
  std::vector<int> d;
  for (size_t i = 0; i < pred.size(); ++i) {
    if (std::isnan(pred[i])) continue;  // skipped under --bad-image skip
    p.push_back(pred[i]);
    s.push_back(list.entries[i].score);
    d.push_back(list.entries[i].domain_id);
  }
  const SceneMetrics m = scene_metrics(p, s, d);
  return EvalPoint{-1, m.overall.srcc, m.overall.plcc, m.mean_scene_srcc, m.overall.count};
}

// The robust scale of the model's current predictions on `list` (all ranks take part).
RobustScale prediction_scale(models::QualityModel& model, const DatasetList& list, const EvalOptions& eo,
                             dist::Communicator& comm, Device device) {
  std::vector<double> finite;
  for (double v : predict_all(model, list, eo, comm, device))
    if (!std::isnan(v)) finite.push_back(v);
  IQA_CHECK(!finite.empty(), "sind-train: no training image could be scored for the calibration statistics");
  return robust_scale(finite);
}

}  // namespace

int eval_cadence(const SindConfig& cfg) {
  if (cfg.eval_every > 0) return cfg.eval_every;
  return cfg.exp_type == Protocol::CrossSet ? 1 : 5;
}

RunResult train_sind(const SindConfig& cfg, const TrainData& data, const std::string& run_dir, const TrainHooks& hooks) {
  cfg.validate();
  IQA_CHECK(!data.train.entries.empty(), "train_sind: the training set is empty");
  const dist::LaunchInfo launch = dist::detect_launch();
  const Device device = pick_training_device(cfg.device, launch.local_rank, "sind-train");
  std::unique_ptr<dist::Communicator> comm = dist::Communicator::create(launch, device);
  const int rank = comm->rank(), world = comm->world_size();
  const bool main_rank = rank == 0;
  RunLog log(run_dir, main_rank);

  // ---- model, optimizer (two groups, coupled L2), EMA, scaler --------------------------------------
  manual_seed(cfg.seed);
  std::shared_ptr<models::QualityModel> model = make_sind_model(cfg);
  if (!cfg.pretrained.empty()) log.line("pretrained: " + load_sind_pretrained(*model, cfg));
  if (!cfg.load_from.empty()) log.line("load_from: " + load_sind_weights_only(*model, cfg, cfg.load_from));
  model->to(device);
  model->train();
  const ParamSplit split = split_sind_parameters(*model);
  Adam opt({ParamGroup{split.backbone, cfg.lr / cfg.lr_ratio, cfg.weight_decay},
            ParamGroup{split.head, cfg.lr, cfg.weight_decay}});
  std::vector<Tensor> params = split.backbone;
  params.insert(params.end(), split.head.begin(), split.head.end());
  ExponentialMovingAverage ema(params, cfg.ema_decay, true);
  amp::GradScaler scaler(amp::GradScaler::Options{.enabled = cfg.precision == Precision::FP16});
  const bool autocast_on = device.is_cuda() && cfg.precision != Precision::FP32;
  if (!device.is_cuda() && cfg.precision != Precision::FP32)
    log.line(std::string("note: --precision ") + choice_name(cfg.precision) + " applies on CUDA only; this CPU run computes in fp32");

  // ---- data: scene sampler (or shuffled batches), loader, schedule ---------------------------------
  std::vector<int> domains;
  for (const auto& e : data.train.entries) domains.push_back(e.domain_id);
  const bool scene = cfg.scene_sampling > 0;
  std::unique_ptr<SceneSampler> scene_sampler;
  std::unique_ptr<ShuffledSampler> shuffled;
  int64_t batches_all_ranks = 0, batches_rank = 0;
  if (scene) {
    scene_sampler = std::make_unique<SceneSampler>(
        domains, SceneSamplerOptions{cfg.batch_size / cfg.scene_sampling, cfg.scene_sampling, world, rank, cfg.seed});
    batches_all_ranks = scene_sampler->batches_per_epoch();
    batches_rank = scene_sampler->batches_per_rank();
  } else {
    shuffled = std::make_unique<ShuffledSampler>(int64_t(domains.size()),
                                                 ShuffledSamplerOptions{cfg.batch_size, world, rank, cfg.seed});
    batches_rank = shuffled->batches_per_rank();
    batches_all_ranks = batches_rank * world;
  }
  IQA_CHECK(batches_rank > 0, "sind-train: ", data.train.entries.size(), " training images give no full batch of ",
            cfg.batch_size, " per rank on ", world, " rank(s); lower --batch_size");
  // E counts the global batches per epoch (measured before sharding, as the reference does), and the
  // schedule advances world_size times per optimizer step (Accelerate's AcceleratedScheduler).
  const WarmupCosine schedule(int64_t(cfg.warmup_epoch) * batches_all_ranks, int64_t(cfg.epochs) * batches_all_ranks);
  LoaderOptions lo;
  lo.data_root = cfg.data_root;
  lo.workers = cfg.num_workers;
  lo.seed = cfg.seed;
  lo.global_resize = cfg.resize;
  lo.local_view = cfg.local_view;
  lo.bad_image = cfg.bad_image;
  lo.decode = cfg.decode;
  // "auto": one cache under the project dir, shared by every fold and split of the run.
  lo.cache_dir = cfg.cache_dir == "auto" ? cfg.project_dir + "/view_cache" : cfg.cache_dir;
  Loader loader(data.train, lo);
  EvalOptions eo;
  eo.data_root = cfg.data_root;
  eo.resize = cfg.resize;
  eo.local_view = cfg.test_local_view;
  eo.bad_image = lo.bad_image;
  eo.decode = cfg.decode;
  eo.cache_dir = lo.cache_dir;
  eo.device = device;
  eo.precision = cfg.precision;
  eo.rank = rank;
  eo.world_size = world;

  // ---- the loop: epochs + 1 passes, as range(0, epochs + 1) -----------------------------------------
  RunResult result;
  for (const auto& t : data.tests) result.sets.push_back(SetResult{t.name, {}, {}});
  EpochLoop loop;
  loop.tool = "sind-train";
  loop.progress_label = "epoch";
  loop.run_dir = run_dir;
  loop.log = &log;
  loop.comm = comm.get();
  loop.resume = cfg.resume;
  loop.config = cfg.to_string_map();
  {
    std::vector<double> mos;
    for (const auto& e : data.train.entries) mos.push_back(e.score);
    store_mos_scale(loop.config, robust_scale(mos));  // for sind-score --calibrate
  }
  const DatasetList calibration_images = calibration_subset(data.train);
  const int cadence = eval_cadence(cfg);
  const bool several_sets = data.tests.size() > 1;
  // The EMA weights now in the model, kept as `kind` (inside the EMA scope; every rank computes the
  // prediction scale, rank 0 writes).
  auto keep = [&](const std::string& kind, const std::string& set, const EvalPoint& p) {
    TrainingState st{model.get()};
    st.epoch = p.epoch;
    st.config = loop.config;
    st.config["kept"] = kind;
    st.config["kept_epoch"] = std::to_string(p.epoch);
    st.config["kept_set"] = set;
    st.config["kept_srcc"] = fmt("%.17g", p.srcc);
    store_prediction_scale(st.config, prediction_scale(*model, calibration_images, eo, *comm, device));
    const std::string path = kept_weights_path(run_dir, kind, set, several_sets);
    if (main_rank) {
      std::filesystem::create_directories(std::filesystem::path(path).parent_path());
      save_checkpoint(path, st);
    }
    log.line("kept the EMA weights of epoch " + std::to_string(p.epoch) + " as " + path);
  };
  // A new best: finite, and above every earlier one (the earliest epoch wins ties, as best_on_test).
  auto improves = [](const EvalPoint& p, const EvalPoint& best) {
    return std::isfinite(p.srcc) && (best.epoch < 0 || p.srcc > best.srcc);
  };
  loop.log_every = cfg.log_every;
  loop.model = model.get();
  loop.optimizer = &opt;
  loop.ema = &ema;
  loop.scaler = &scaler;
  loop.params = params;
  loop.logged_lr_group = 1;  // the head's
  loop.passes = cfg.epochs + 1;
  loop.batches_per_epoch = batches_rank;
  loop.loader = &loader;
  loop.epoch_batches = [&](int epoch) {
    return scene ? scene_sampler->epoch_batches(uint64_t(epoch)) : shuffled->epoch_batches(uint64_t(epoch));
  };
  loop.schedule = [&](int, int64_t step) { schedule.apply(opt, step * world); };
  // Views, MOS and scene ids reach the device through the loop's prefetcher (copied one batch ahead).
  const bool mosaic = lo.local_view == LocalViewMode::Mosaic;
  loop.device = device;
  loop.device_inputs = [mosaic](const Batch& batch) {
    std::vector<int64_t> ids(batch.domain_ids.begin(), batch.domain_ids.end());
    std::vector<Tensor> in{batch.global_tensor(), Tensor::from_vector(batch.scores, {int64_t(batch.size)}),
                           Tensor::from_vector_i64(ids, {int64_t(ids.size())})};
    if (mosaic) in.push_back(batch.local_tensor());
    return in;
  };
  loop.loss = [&](const Batch& batch, int64_t) {
    const Tensor& xg = batch.device_inputs[0];
    const Tensor& xl = mosaic ? batch.device_inputs[3] : xg;
    const Tensor& mos = batch.device_inputs[1];
    const Tensor& scene_ids = batch.device_inputs[2];
    amp::AutocastGuard ac(cfg.precision == Precision::FP16 ? DType::F16 : DType::BF16, autocast_on);
    Tensor pred = model->score(xg, xl).reshape({int64_t(batch.size)}).to(DType::F32);
    if (cfg.loss_type == LossType::ScaleShift) return scale_shift_loss(pred, mos, scene_ids);
    // the "without alignment" baseline: per-scene raw L1 with scene sampling, else F.l1_loss
    return scene ? scene_l1_loss(pred, mos, scene_ids) : l1_loss(pred, mos);
  };
  loop.epoch_loss = &result.epoch_loss;
  // In the loop, a SIGINT/SIGTERM ends an evaluation at its next chunk (EvaluationInterrupted): every
  // set is scored before anything is recorded, so an interrupted evaluation leaves no trace and runs
  // again, whole, after --resume. On one rank only: ranks score different numbers of chunks, so they
  // could not agree on one to stop at; with several, the evaluation ends and all stop after it
  // (training/epoch_loop.cpp, StopAgreement).
  EvalOptions in_loop = eo;
  in_loop.stop_on_signal = world == 1;
  loop.evaluate = [&](int epoch) -> std::optional<EpochEvaluation> {
    const bool final_pass = epoch == cfg.epochs;
    if (epoch % cadence != 0 && !final_pass) return std::nullopt;
    auto scope = ema.average_parameters();  // evaluation uses the EMA weights
    // The last checkpoint of the run carries the calibration of its EMA weights.
    std::optional<RobustScale> scale;
    if (final_pass) scale = prediction_scale(*model, calibration_images, in_loop, *comm, device);
    struct SetPoints {
      EvalPoint test;
      std::vector<std::pair<const NamedList*, EvalPoint>> vals;
    };
    std::vector<SetPoints> points;
    if (epoch % cadence == 0)
      for (size_t i = 0; i < data.tests.size(); ++i) {
        SetPoints sp{evaluate_set(*model, data.tests[i].list, in_loop, *comm, device), {}};
        for (const NamedList& v : data.vals)
          if (v.name == data.tests[i].name) sp.vals.emplace_back(&v, evaluate_set(*model, v.list, in_loop, *comm, device));
        points.push_back(std::move(sp));
      }
    if (scale) store_prediction_scale(loop.config, *scale);
    if (epoch % cadence != 0) return std::nullopt;
    EpochEvaluation ev;
    for (size_t i = 0; i < data.tests.size(); ++i) {
      EvalPoint p = points[i].test;
      p.epoch = epoch;
      const bool new_best = improves(p, result.sets[i].best_on_test());
      result.sets[i].history.push_back(p);
      if (new_best) keep("best", data.tests[i].name, p);
      ev.line += (i ? "  " : "") + data.tests[i].name + fmt(" SRCC %.4f PLCC %.4f", p.srcc, p.plcc);
      nlohmann::json j{{"set", data.tests[i].name}, {"split", "test"}, {"srcc", p.srcc}, {"plcc", p.plcc}, {"count", p.count}};
      if (std::isfinite(p.mean_scene_srcc)) j["mean_scene_srcc"] = p.mean_scene_srcc;
      ev.records.push_back(j);
      for (auto& [v, vp] : points[i].vals) {
        vp.epoch = epoch;
        const bool new_val_best = improves(vp, result.sets[i].best_on_val());
        result.sets[i].val_history.push_back(vp);
        if (new_val_best) keep("val-best", v->name, vp);
        ev.line += fmt(" (val SRCC %.4f)", vp.srcc);
        ev.records.push_back({{"set", v->name}, {"split", "val"}, {"srcc", vp.srcc}, {"plcc", vp.plcc}, {"count", vp.count}});
      }
    }
    return ev;
  };
  loop.history_json = [&](int64_t step) {
    result.steps = step;
    return result.to_json();
  };
  loop.restore_history = [&](const std::string& json) {
    result = RunResult::from_json(json);
    result.interrupted = false;
  };
  loop.plot_title = std::string("SIND ") + choice_name(cfg.clip_model) + " (" + choice_name(cfg.loss_type) + ")";
  loop.plot_series = [&] {
    std::vector<PlotSeries> srcc;
    for (const SetResult& s : result.sets) {
      PlotSeries ps{s.name, {}};
      for (const EvalPoint& p : s.history) ps.points.emplace_back(p.epoch, p.srcc);
      srcc.push_back(ps);
    }
    return srcc;
  };

  log.line("train: " + std::to_string(data.train.entries.size()) + " images, " + std::to_string(batches_all_ranks) +
           " batches/epoch (" + std::to_string(batches_rank) + " per rank x " + std::to_string(world) + "), device " +
           device.str() + ", epochs 0.." + std::to_string(cfg.epochs));
  const LoopOutcome outcome = run_epoch_loop(loop, hooks);
  result.steps = outcome.steps;
  result.interrupted = outcome.interrupted;
  if (outcome.interrupted) return result;
  const LoaderStats ls = loader.stats();
  if (ls.images_skipped > 0) log.line("skipped " + std::to_string(ls.images_skipped) + " unreadable training images");
  return result;
}

}  // namespace iqa::training
