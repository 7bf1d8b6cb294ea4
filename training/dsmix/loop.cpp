#include "engine/atomic_file.h"
#include "training/dsmix/loop.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/error.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

void StageEnv::open_run(const std::string& dir) {
  run_dir = dir;
  ckpt_path = dir + "/checkpoints/last.safetensors";
  log = std::make_unique<RunLog>(dir, main_rank);
}

StageEnv open_stage(const DsmixConfig& input, DsmixStage stage) {
  StageEnv env;
  env.cfg = input.resolved();
  env.cfg.stage = stage;
  env.cfg.validate();
  const dist::LaunchInfo launch = dist::detect_launch();
  env.device = pick_training_device(env.cfg.device, launch.local_rank, "dsmix-train");
  env.comm = dist::Communicator::create(launch, env.device);
  env.rank = env.comm->rank();
  env.world = env.comm->world_size();
  env.main_rank = env.rank == 0;
  env.open_run(env.cfg.project_dir);
  if (env.main_rank) {
    fs::create_directories(env.run_dir);
    write_file_atomically(env.run_dir + "/config.json", env.cfg.to_json() + "\n", "dsmix-train");
  }
  return env;
}

std::string StageHistory::to_json() const {
  nlohmann::json j;
  j["epoch_loss"] = nlohmann::json::array();
  for (const auto& [e, l] : epoch_loss) j["epoch_loss"].push_back({e, finite_or_null(l)});
  j["evals"] = evals;
  if (!running.empty()) j["running"] = running;
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
  if (j.contains("running")) h.running = j.at("running");
  for (const auto& [name, pts] : j.at("plotted").items())
    for (const auto& p : pts) h.plotted[name].emplace_back(p.at(0).get<double>(), num(p.at(1)));
  return h;
}

double StageHistory::last_eval(const std::string& key) const {
  for (auto it = evals.rbegin(); it != evals.rend(); ++it)
    if (it->contains(key) && it->at(key).is_number()) return it->at(key).get<double>();
  return std::nan("");
}

StageResult run_stage_loop(StageEnv& env, EpochLoop& loop, const std::function<EpochEval(int epoch)>& evaluate,
                           const TrainHooks& hooks, const std::vector<std::string>& metric_keys,
                           const char* summary_format, const RunningSums& running) {
  const DsmixConfig& cfg = env.cfg;
  StageResult result;
  StageHistory& history = result.history;
  const std::string stage = choice_name(cfg.stage);
  loop.tool = "dsmix-train " + stage;
  loop.progress_label = stage + " epoch";
  loop.run_dir = env.run_dir;
  loop.log = env.log.get();
  loop.comm = env.comm.get();
  loop.resume = cfg.resume;
  loop.config = cfg.to_string_map();
  loop.log_every = cfg.log_every;
  loop.loss_decimals = 5;
  loop.passes = cfg.epochs;
  loop.epoch_loss = &history.epoch_loss;
  loop.evaluate = [&](int epoch) -> std::optional<EpochEvaluation> {
    if (!evaluate || ((epoch + 1) % cfg.eval_every != 0 && epoch + 1 != cfg.epochs)) return std::nullopt;
    const EpochEval ev = evaluate(epoch);
    nlohmann::json j = ev.fields;
    j["epoch"] = epoch;
    history.evals.push_back(j);
    for (const auto& [name, v] : ev.plotted) history.plotted[name].emplace_back(epoch, v);
    return EpochEvaluation{{ev.fields}, ev.line};
  };
  loop.history_json = [&](int64_t) {
    if (running.save) history.running = running.save();
    return history.to_json();
  };
  loop.restore_history = [&](const std::string& json) {
    history = StageHistory::from_json(json);
    if (running.restore) running.restore(history.running);
  };
  loop.check_checkpoint = [&](const std::string& path, const std::map<std::string, std::string>& stored) {
    IQA_CHECK(stored.count("stage") && stored.at("stage") == stage, "dsmix-train: ", path,
              " is a checkpoint of stage '", stored.count("stage") ? stored.at("stage") : std::string("?"),
              "', not of --stage ", stage);
  };
  loop.plot_series = [&] {
    std::vector<PlotSeries> series;
    for (const auto& [name, pts] : history.plotted) series.push_back(PlotSeries{name, pts});
    return series;
  };
  result.interrupted = run_epoch_loop(loop, hooks).interrupted;
  for (const std::string& k : metric_keys) result.metrics[k] = history.last_eval(k);
  if (summary_format && !evaluate) {
    result.lines.push_back("stage " + stage + ": trained without held-out references (--holdout 0), no evaluation");
  } else if (summary_format) {
    IQA_CHECK(metric_keys.size() == 3, "run_stage_loop: a summary formats exactly three metrics");
    char line[256];
    std::snprintf(line, sizeof line, summary_format, result.metrics[metric_keys[0]], result.metrics[metric_keys[1]],
                  result.metrics[metric_keys[2]]);
    result.lines.push_back(line);
  }
  return result;
}

}  // namespace iqa::training
