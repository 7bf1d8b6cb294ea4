#include "training/sind/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/amp.h"
#include "engine/comm.h"
#include "engine/cuda_runtime.h"
#include "engine/ema.h"
#include "engine/error.h"
#include "engine/lr_schedule.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "training/checkpoint.h"
#include "training/data/loader.h"
#include "training/metrics.h"
#include "training/plot_svg.h"
#include "training/run_log.h"
#include "training/data/scene_sampler.h"
#include "training/sind/eval.h"
#include "training/sind/model.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

Device pick_device(const SindConfig& cfg, int local_rank) {
  const bool gpu = cfg.device == "cuda" || (cfg.device == "auto" && cuda::available());
  if (!gpu) return kCPU;
  IQA_CHECK(cuda::available(), "sind-train: --device cuda but ", cuda::unavailable_reason());
  return cuda_device(local_rank % std::max(1, cuda::device_count()));
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

}  // namespace

RunResult train_sind(const SindConfig& cfg, const TrainData& data, const std::string& run_dir, const TrainHooks& hooks) {
  cfg.validate();
  IQA_CHECK(!data.train.entries.empty(), "train_sind: the training set is empty");
  const dist::LaunchInfo launch = dist::detect_launch();
  const Device device = pick_device(cfg, launch.local_rank);
  std::unique_ptr<dist::Communicator> comm = dist::Communicator::create(launch, device);
  const int rank = comm->rank(), world = comm->world_size();
  const bool main_rank = rank == 0;
  RunLog log(run_dir, main_rank);
  const std::string ckpt_dir = run_dir + "/checkpoints", ckpt_path = ckpt_dir + "/last.safetensors";

  // ---- model, optimizer (two groups, coupled L2), EMA, scaler --------------------------------------
  manual_seed(cfg.seed);
  std::shared_ptr<models::QualityModel> model = make_sind_model(cfg);
  if (!cfg.pretrained.empty()) log.line("pretrained: " + load_sind_pretrained(*model, cfg));
  model->to(device);
  model->train();
  const ParamSplit split = split_sind_parameters(*model);
  Adam opt({ParamGroup{split.backbone, cfg.lr / cfg.lr_ratio, cfg.weight_decay},
            ParamGroup{split.head, cfg.lr, cfg.weight_decay}});
  std::vector<Tensor> params = split.backbone;
  params.insert(params.end(), split.head.begin(), split.head.end());
  ExponentialMovingAverage ema(params, 0.99, true);
  amp::GradScaler scaler(amp::GradScaler::Options{.enabled = cfg.precision == "fp16"});
  dist::GradientSynchronizer sync(*comm, params);
  const bool autocast_on = device.is_cuda() && cfg.precision != "fp32";
  if (!device.is_cuda() && cfg.precision != "fp32")
    log.line("note: --precision " + cfg.precision + " applies on CUDA only; this CPU run computes in fp32");

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
  lo.local_view = cfg.local_view == "mosaic" ? LocalViewMode::Mosaic : LocalViewMode::SameAsGlobal;
  lo.bad_image = parse_bad_image_policy(cfg.bad_image);
  Loader loader(data.train, lo);
  EvalOptions eo;
  eo.data_root = cfg.data_root;
  eo.resize = cfg.resize;
  eo.local_view = lo.local_view;
  eo.bad_image = lo.bad_image;
  eo.device = device;
  eo.precision = cfg.precision;
  eo.rank = rank;
  eo.world_size = world;

  // ---- resume --------------------------------------------------------------------------------------
  RunResult result;
  for (const auto& t : data.tests) result.sets.push_back(SetResult{t.name, {}, {}});
  int start_epoch = 0;
  int64_t step = 0, skip_batches = 0;
  double epoch_loss_sum = 0;
  int64_t epoch_loss_count = 0;
  std::string resume = cfg.resume;
  if (resume == "auto") resume = fs::exists(ckpt_path) ? ckpt_path : "";
  if (!resume.empty()) {
    TrainingState st{model.get(), &opt, &ema, &scaler, &default_generator()};
    load_checkpoint(resume, st);
    result = RunResult::from_json(st.config.at("history"));
    result.interrupted = false;
    step = st.step;
    const int64_t done = std::stoll(st.config.at("batches_done"));
    epoch_loss_sum = std::stod(st.config.at("epoch_loss_sum"));
    epoch_loss_count = std::stoll(st.config.at("epoch_loss_count"));
    start_epoch = int(st.epoch);
    if (done >= batches_rank) {
      ++start_epoch;
      epoch_loss_sum = 0;
      epoch_loss_count = 0;
    } else {
      skip_batches = done;
    }
    log.line("resumed from " + resume + " at epoch " + std::to_string(start_epoch) + ", step " + std::to_string(step));
  }

  auto save = [&](int epoch, int64_t batches_done) {
    if (!main_rank) return;
    fs::create_directories(ckpt_dir);
    TrainingState st{model.get(), &opt, &ema, &scaler, &default_generator(), step, epoch, cfg.to_string_map()};
    st.config["history"] = result.to_json();
    st.config["batches_done"] = std::to_string(batches_done);
    // Hex floats keep the partial epoch's loss sum bit-exact across a resume.
    char hex[64];
    std::snprintf(hex, sizeof hex, "%a", epoch_loss_sum);
    st.config["epoch_loss_sum"] = hex;
    st.config["epoch_loss_count"] = std::to_string(epoch_loss_count);
    save_checkpoint(ckpt_path, st);
  };
  auto write_plot = [&]() {
    if (!main_rank) return;
    PlotSeries loss{"train loss", {}};
    for (const auto& [e, l] : result.epoch_loss) loss.points.emplace_back(e, l);
    std::vector<PlotSeries> srcc;
    for (const SetResult& s : result.sets) {
      PlotSeries ps{s.name, {}};
      for (const EvalPoint& p : s.history) ps.points.emplace_back(p.epoch, p.srcc);
      srcc.push_back(ps);
    }
    write_training_plot(run_dir + "/curves.svg", loss, srcc, "SIND " + cfg.clip_model + " (" + cfg.loss_type + ")");
  };

  log.line("train: " + std::to_string(data.train.entries.size()) + " images, " + std::to_string(batches_all_ranks) +
           " batches/epoch (" + std::to_string(batches_rank) + " per rank x " + std::to_string(world) + "), device " +
           device.str() + ", epochs 0.." + std::to_string(cfg.epochs));

  // ---- the loop: epochs + 1 passes, as range(0, epochs + 1) -----------------------------------------
  for (int epoch = start_epoch; epoch <= cfg.epochs; ++epoch) {
    std::vector<SampledBatch> batches =
        scene ? scene_sampler->epoch_batches(uint64_t(epoch)) : shuffled->epoch_batches(uint64_t(epoch));
    const int64_t first = skip_batches;
    skip_batches = 0;
    batches.erase(batches.begin(), batches.begin() + first);
    loader.start_epoch(uint64_t(epoch), std::move(batches));
    Progress progress("epoch " + std::to_string(epoch), batches_rank - first, main_rank && hooks.progress);
    int64_t images = 0, batch_index = first;
    while (auto batch = loader.next()) {
      schedule.apply(opt, step * world);
      Tensor xg = batch->global_tensor().to(device);
      Tensor xl = lo.local_view == LocalViewMode::Mosaic ? batch->local_tensor().to(device) : xg;
      Tensor mos = Tensor::from_vector(batch->scores, {int64_t(batch->size)}).to(device);
      Tensor loss;
      {
        amp::AutocastGuard ac(cfg.precision == "fp16" ? DType::F16 : DType::BF16, autocast_on);
        Tensor pred = model->score(xg, xl).reshape({int64_t(batch->size)}).to(DType::F32);
        std::vector<int64_t> ids(batch->domain_ids.begin(), batch->domain_ids.end());
        const Tensor scene_ids = Tensor::from_vector_i64(ids, {int64_t(ids.size())}).to(device);
        if (cfg.loss_type == "scale_shift")
          loss = scale_shift_loss(pred, mos, scene_ids);
        else  // the "without alignment" baseline: per-scene raw L1 with scene sampling, else F.l1_loss
          loss = scene ? scene_l1_loss(pred, mos, scene_ids) : l1_loss(pred, mos);
      }
      if (hooks.on_loss) hooks.on_loss(step, loss);
      const double loss_value = loss.item();
      IQA_CHECK(std::isfinite(loss_value), "sind-train: non-finite loss (", loss_value, ") at step ", step,
                " (epoch ", epoch, ", batch ", batch_index, "); stopped, the last good checkpoint is kept",
                main_rank && fs::exists(ckpt_path) ? " at " + ckpt_path : std::string(" (none written yet)"));
      opt.zero_grad();
      sync.begin_step();
      scaler.scale(loss).backward();
      sync.finish_step();
      scaler.step(opt);
      scaler.update();
      ema.update();
      ++step;
      ++batch_index;
      images += batch->size;
      epoch_loss_sum += loss_value;
      ++epoch_loss_count;
      progress.update(batch_index - first, images * world, loss_value);
      if (step % cfg.log_every == 0)
        log.json(nlohmann::json{{"type", "step"}, {"epoch", epoch}, {"step", step}, {"loss", loss_value},
                                {"lr", opt.param_groups()[1].lr}}.dump());
      if (stop_requested() || hooks.stop_after_step == step) {
        progress.finish();
        save(epoch, batch_index);
        log.line("stopped at step " + std::to_string(step) + " (epoch " + std::to_string(epoch) +
                 "); checkpoint written to " + ckpt_path + ", continue with --resume auto");
        result.steps = step;
        result.interrupted = true;
        return result;
      }
    }
    progress.finish();
    const double mean_loss = epoch_loss_count ? epoch_loss_sum / double(epoch_loss_count) : std::nan("");
    result.epoch_loss.emplace_back(epoch, mean_loss);
    log.json(nlohmann::json{{"type", "epoch"}, {"epoch", epoch}, {"loss", std::isfinite(mean_loss) ? nlohmann::json(mean_loss) : nlohmann::json(nullptr)}, {"step", step}}.dump());
    std::string line = fmt("epoch %3.0f  loss %.4f  lr %.3g", epoch, mean_loss, opt.param_groups()[1].lr);
    epoch_loss_sum = 0;
    epoch_loss_count = 0;
    if (epoch % cfg.eval_every == 0) {
      auto scope = ema.average_parameters();  // evaluation uses the EMA weights
      for (size_t i = 0; i < data.tests.size(); ++i) {
        EvalPoint p = evaluate_set(*model, data.tests[i].list, eo, *comm, device);
        p.epoch = epoch;
        result.sets[i].history.push_back(p);
        line += "  " + data.tests[i].name + fmt(" SRCC %.4f PLCC %.4f", p.srcc, p.plcc);
        nlohmann::json j{{"type", "eval"}, {"epoch", epoch}, {"set", data.tests[i].name}, {"split", "test"},
                         {"srcc", p.srcc}, {"plcc", p.plcc}, {"count", p.count}};
        if (std::isfinite(p.mean_scene_srcc)) j["mean_scene_srcc"] = p.mean_scene_srcc;
        log.json(j.dump());
        for (const NamedList& v : data.vals) {
          if (v.name != data.tests[i].name) continue;
          EvalPoint vp = evaluate_set(*model, v.list, eo, *comm, device);
          vp.epoch = epoch;
          result.sets[i].val_history.push_back(vp);
          line += fmt(" (val SRCC %.4f)", vp.srcc);
          log.json(nlohmann::json{{"type", "eval"}, {"epoch", epoch}, {"set", v.name}, {"split", "val"},
                                  {"srcc", vp.srcc}, {"plcc", vp.plcc}, {"count", vp.count}}.dump());
        }
      }
    }
    log.line(line);
    result.steps = step;
    save(epoch, batches_rank);
    write_plot();
    if (stop_requested() || hooks.stop_after_epoch == epoch) {
      if (epoch < cfg.epochs) {
        log.line("stopped after epoch " + std::to_string(epoch) + "; continue with --resume auto");
        result.interrupted = true;
        return result;
      }
    }
  }
  const LoaderStats ls = loader.stats();
  if (ls.images_skipped > 0) log.line("skipped " + std::to_string(ls.images_skipped) + " unreadable training images");
  return result;
}

}  // namespace iqa::training
