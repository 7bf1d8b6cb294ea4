#include "training/dsmix/loop.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/cuda_runtime.h"
#include "engine/error.h"
#include "engine/random.h"
#include "training/checkpoint.h"
#include "training/plot_svg.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

Device pick_device(const DsmixConfig& cfg, int local_rank) {
  const bool gpu = cfg.device == "cuda" || (cfg.device == "auto" && cuda::available());
  if (!gpu) return kCPU;
  IQA_CHECK(cuda::available(), "dsmix-train: --device cuda but ", cuda::unavailable_reason());
  return cuda_device(local_rank % std::max(1, cuda::device_count()));
}

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

void StageEnv::open_run(const std::string& dir) {
  run_dir = dir;
  ckpt_path = dir + "/checkpoints/last.safetensors";
  log = std::make_unique<RunLog>(dir, main_rank);
}

StageEnv open_stage_env(const DsmixConfig& cfg, const std::string& run_dir) {
  StageEnv env;
  env.cfg = cfg;
  const dist::LaunchInfo launch = dist::detect_launch();
  env.device = pick_device(cfg, launch.local_rank);
  env.comm = dist::Communicator::create(launch, env.device);
  env.rank = env.comm->rank();
  env.world = env.comm->world_size();
  env.main_rank = env.rank == 0;
  env.open_run(run_dir);
  return env;
}

void write_config_json(const StageEnv& env) {
  if (!env.main_rank) return;
  fs::create_directories(env.run_dir);
  std::ofstream f(env.run_dir + "/config.json");
  f << env.cfg.to_json() << "\n";
}

std::string StageHistory::to_json() const {
  nlohmann::json j;
  j["epoch_loss"] = nlohmann::json::array();
  for (const auto& [e, l] : epoch_loss) j["epoch_loss"].push_back({e, finite_or_null(l)});
  j["evals"] = evals;
  j["plotted"] = nlohmann::json::object();
  for (const auto& [name, pts] : plotted) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& [x, y] : pts) a.push_back({x, finite_or_null(y)});
    j["plotted"][name] = a;
  }
  return j.dump();
}

StageHistory StageHistory::from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text);
  StageHistory h;
  auto num = [](const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); };
  for (const auto& p : j.at("epoch_loss")) h.epoch_loss.emplace_back(p.at(0).get<int>(), num(p.at(1)));
  for (const auto& e : j.at("evals")) h.evals.push_back(e);
  for (const auto& [name, pts] : j.at("plotted").items())
    for (const auto& p : pts) h.plotted[name].emplace_back(p.at(0).get<double>(), num(p.at(1)));
  return h;
}

double StageHistory::last_eval(const std::string& key) const {
  for (auto it = evals.rbegin(); it != evals.rend(); ++it)
    if (it->contains(key) && it->at(key).is_number()) return it->at(key).get<double>();
  return std::nan("");
}

LoopResult run_epoch_loop(StageEnv& env, EpochLoop& loop, const TrainHooks& hooks) {
  const DsmixConfig& cfg = env.cfg;
  IQA_CHECK(loop.model && loop.optimizer && loop.loader && loop.loss && loop.epoch_batches,
            "run_epoch_loop: model, optimizer, loader, loss and epoch_batches are required");
  IQA_CHECK(loop.batches_per_epoch > 0, "dsmix-train ", cfg.stage, ": no full batch of ", cfg.batch_size,
            " per rank on ", env.world, " rank(s); lower --batch_size or add data");
  dist::GradientSynchronizer sync(*env.comm, loop.params);
  RunLog& log = *env.log;
  const std::string ckpt_dir = env.run_dir + "/checkpoints";

  LoopResult result;
  int start_epoch = 0;
  int64_t step = 0, skip_batches = 0, epoch_loss_count = 0;
  double epoch_loss_sum = 0;
  std::string resume = cfg.resume;
  if (resume == "auto") resume = fs::exists(env.ckpt_path) ? env.ckpt_path : "";
  if (!resume.empty()) {
    const auto stored = read_checkpoint_config(resume);
    IQA_CHECK(stored.count("stage") && stored.at("stage") == cfg.stage, "dsmix-train: ", resume,
              " is a checkpoint of stage '", stored.count("stage") ? stored.at("stage") : std::string("?"),
              "', not of --stage ", cfg.stage);
    TrainingState st{loop.model, loop.optimizer, nullptr, nullptr, &default_generator()};
    load_checkpoint(resume, st);
    result.history = StageHistory::from_json(st.config.at("history"));
    step = st.step;
    const int64_t done = std::stoll(st.config.at("batches_done"));
    epoch_loss_sum = std::stod(st.config.at("epoch_loss_sum"));
    epoch_loss_count = std::stoll(st.config.at("epoch_loss_count"));
    start_epoch = int(st.epoch);
    if (done >= loop.batches_per_epoch) {
      ++start_epoch;
      epoch_loss_sum = 0;
      epoch_loss_count = 0;
    } else {
      skip_batches = done;
    }
    log.line("resumed from " + resume + " at epoch " + std::to_string(start_epoch) + ", step " + std::to_string(step));
  }

  auto save = [&](int epoch, int64_t batches_done) {
    if (!env.main_rank) return;
    fs::create_directories(ckpt_dir);
    TrainingState st{loop.model, loop.optimizer, nullptr, nullptr, &default_generator(), step, epoch, cfg.to_string_map()};
    st.config["history"] = result.history.to_json();
    st.config["batches_done"] = std::to_string(batches_done);
    char hex[64];  // hex float: the partial epoch's loss sum survives a resume bit-exactly
    std::snprintf(hex, sizeof hex, "%a", epoch_loss_sum);
    st.config["epoch_loss_sum"] = hex;
    st.config["epoch_loss_count"] = std::to_string(epoch_loss_count);
    save_checkpoint(env.ckpt_path, st);
  };
  auto write_plot = [&]() {
    if (!env.main_rank) return;
    PlotSeries loss{"train loss", {}};
    for (const auto& [e, l] : result.history.epoch_loss) loss.points.emplace_back(e, l);
    std::vector<PlotSeries> series;
    for (const auto& [name, pts] : result.history.plotted) series.push_back(PlotSeries{name, pts});
    write_training_plot(env.run_dir + "/curves.svg", loss, series, loop.title);
  };

  for (int epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    std::vector<SampledBatch> batches = loop.epoch_batches(epoch);
    const int64_t first = std::min<int64_t>(skip_batches, int64_t(batches.size()));
    skip_batches = 0;
    batches.erase(batches.begin(), batches.begin() + first);
    loop.loader->start_epoch(uint64_t(epoch), std::move(batches));
    Progress progress(cfg.stage + " epoch " + std::to_string(epoch), loop.batches_per_epoch - first,
                      env.main_rank && hooks.progress);
    int64_t images = 0, batch_index = first;
    while (auto batch = loop.loader->next()) {
      if (loop.schedule) loop.schedule(epoch, step);
      Tensor loss = loop.loss(*batch, step);
      if (hooks.on_loss) hooks.on_loss(step, loss);
      const double loss_value = loss.item();
      IQA_CHECK(std::isfinite(loss_value), "dsmix-train ", cfg.stage, ": non-finite loss (", loss_value, ") at step ",
                step, " (epoch ", epoch, ", batch ", batch_index, "); stopped, the last good checkpoint is kept",
                env.main_rank && fs::exists(env.ckpt_path) ? " at " + env.ckpt_path : std::string(" (none written yet)"));
      loop.optimizer->zero_grad();
      sync.begin_step();
      loss.backward();
      sync.finish_step();
      loop.optimizer->step();
      ++step;
      ++batch_index;
      images += batch->size;
      epoch_loss_sum += loss_value;
      ++epoch_loss_count;
      progress.update(batch_index - first, images * env.world, loss_value);
      if (step % cfg.log_every == 0)
        log.json(nlohmann::json{{"type", "step"}, {"epoch", epoch}, {"step", step}, {"loss", loss_value},
                                {"lr", loop.optimizer->param_groups()[0].lr}}.dump());
      if (stop_requested() || hooks.stop_after_step == step) {
        progress.finish();
        save(epoch, batch_index);
        log.line("stopped at step " + std::to_string(step) + " (epoch " + std::to_string(epoch) +
                 "); checkpoint written to " + env.ckpt_path + ", continue with --resume auto");
        result.steps = step;
        result.interrupted = true;
        return result;
      }
    }
    progress.finish();
    const double mean_loss = epoch_loss_count ? epoch_loss_sum / double(epoch_loss_count) : std::nan("");
    result.history.epoch_loss.emplace_back(epoch, mean_loss);
    log.json(nlohmann::json{{"type", "epoch"}, {"epoch", epoch}, {"loss", finite_or_null(mean_loss)}, {"step", step}}.dump());
    char head[128];
    std::snprintf(head, sizeof head, "epoch %3d  loss %.5f  lr %.3g", epoch, mean_loss,
                  loop.optimizer->param_groups()[0].lr);
    std::string line = head;
    epoch_loss_sum = 0;
    epoch_loss_count = 0;
    if (loop.evaluate && ((epoch + 1) % cfg.eval_every == 0 || epoch + 1 == cfg.epochs)) {
      EpochEval ev = loop.evaluate(epoch);
      nlohmann::json j = ev.fields;
      j["epoch"] = epoch;
      result.history.evals.push_back(j);
      for (const auto& [name, v] : ev.plotted) result.history.plotted[name].emplace_back(epoch, v);
      nlohmann::json logged{{"type", "eval"}, {"epoch", epoch}};
      for (const auto& [k, v] : ev.fields.items()) logged[k] = v;
      log.json(logged.dump());
      line += "  " + ev.line;
    }
    log.line(line);
    result.steps = step;
    save(epoch, loop.batches_per_epoch);
    write_plot();
    if ((stop_requested() || hooks.stop_after_epoch == epoch) && epoch + 1 < cfg.epochs) {
      log.line("stopped after epoch " + std::to_string(epoch) + "; continue with --resume auto");
      result.interrupted = true;
      return result;
    }
  }
  result.steps = step;
  return result;
}

}  // namespace iqa::training
