// RunResult's model selection and JSON form (kept in checkpoints so a resumed run reports the same
// history), and the --dataset_domain relabelling.
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "training/sind/trainer.h"

namespace iqa::training {
namespace {

// NaN is not JSON: stored as null and read back as NaN.
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double num(const nlohmann::json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

nlohmann::json point_json(const EvalPoint& p) {
  return {{"epoch", p.epoch}, {"srcc", num(p.srcc)}, {"plcc", num(p.plcc)},
          {"mean_scene_srcc", num(p.mean_scene_srcc)}, {"count", p.count}};
}
EvalPoint point_from(const nlohmann::json& j) {
  return EvalPoint{j.at("epoch").get<int>(), num(j.at("srcc")), num(j.at("plcc")), num(j.at("mean_scene_srcc")),
                   j.at("count").get<int64_t>()};
}

// Highest SRCC; the earliest epoch wins ties (the reference keeps the first maximum).
const EvalPoint* best_of(const std::vector<EvalPoint>& h) {
  const EvalPoint* best = nullptr;
  for (const EvalPoint& p : h)
    if (std::isfinite(p.srcc) && (!best || p.srcc > best->srcc)) best = &p;
  return best;
}

}  // namespace

EvalPoint SetResult::best_on_test() const {
  const EvalPoint* b = best_of(history);
  return b ? *b : EvalPoint{};
}

EvalPoint SetResult::best_on_val() const {
  const EvalPoint* b = best_of(val_history);
  return b ? *b : EvalPoint{};
}

EvalPoint SetResult::val_selected() const {
  const EvalPoint* v = best_of(val_history);
  if (!v) return EvalPoint{};
  for (const EvalPoint& p : history)
    if (p.epoch == v->epoch) return p;
  return EvalPoint{};
}

EvalPoint SetResult::last() const { return history.empty() ? EvalPoint{} : history.back(); }

std::string RunResult::to_json() const {
  nlohmann::json j;
  j["steps"] = steps;
  j["interrupted"] = interrupted;
  j["epoch_loss"] = nlohmann::json::array();
  for (const auto& [e, l] : epoch_loss) j["epoch_loss"].push_back({e, num(l)});
  j["sets"] = nlohmann::json::array();
  for (const SetResult& s : sets) {
    nlohmann::json js{{"name", s.name}, {"history", nlohmann::json::array()}, {"val_history", nlohmann::json::array()}};
    for (const auto& p : s.history) js["history"].push_back(point_json(p));
    for (const auto& p : s.val_history) js["val_history"].push_back(point_json(p));
    j["sets"].push_back(js);
  }
  return j.dump();
}

RunResult RunResult::from_json(const std::string& text) {
  RunResult r;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    r.steps = j.at("steps").get<int64_t>();
    r.interrupted = j.at("interrupted").get<bool>();
    for (const auto& e : j.at("epoch_loss")) r.epoch_loss.emplace_back(e.at(0).get<int>(), num(e.at(1)));
    for (const auto& js : j.at("sets")) {
      SetResult s;
      s.name = js.at("name").get<std::string>();
      for (const auto& p : js.at("history")) s.history.push_back(point_from(p));
      for (const auto& p : js.at("val_history")) s.val_history.push_back(point_from(p));
      r.sets.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("RunResult::from_json: ") + e.what());
  }
  return r;
}

DatasetList to_dataset_domains(DatasetList list, bool keep_spaq_scenes) {
  for (DatasetEntry& e : list.entries) {
    const DatasetInfo* ds = dataset_for_domain(e.domain_id);
    if (keep_spaq_scenes && ds && ds->name == "spaq") continue;
    e.domain_id /= 100;
  }
  list.domain_names.clear();
  return list;
}

}  // namespace iqa::training
