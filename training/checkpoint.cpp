// Training checkpoints: sections with prefixes in one safetensors file, config as JSON metadata.
#include "training/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/safetensors.h"

namespace iqa::training {

namespace {
constexpr const char* kFormat = kTrainingCheckpointFormat;
constexpr const char* kVersion = "1";

// An i64 scalar holding `v` exactly (Tensor::full goes through double, which rounds above 2^53).
Tensor exact_i64(int64_t v) { return Tensor::from_vector_i64({v}, {}); }

int64_t read_i64(const std::map<std::string, Tensor>& all, const std::string& key, const std::string& path) {
  auto it = all.find(key);
  IQA_CHECK(it != all.end(), "checkpoint ", path, ": missing '", key, "'");
  IQA_CHECK(it->second.dtype() == DType::I64 && it->second.numel() == 1, "checkpoint ", path, ": '", key,
            "' must be an i64 scalar, got ", it->second.str());
  return it->second.to_vector_i64()[0];
}

// The entries under "<prefix>." with the prefix removed.
std::map<std::string, Tensor> section(const std::map<std::string, Tensor>& all, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  const std::string p = prefix + ".";
  for (auto& [n, t] : all)
    if (n.compare(0, p.size(), p) == 0) out[n.substr(p.size())] = t;
  return out;
}

void add_section(NamedTensors& out, const std::string& prefix, const NamedTensors& tensors) {
  for (auto& [n, t] : tensors) out.push_back({prefix + "." + n, t});
}

std::map<std::string, std::string> parse_config(const SafetensorsMetadata& meta, const std::string& path) {
  auto fmt = meta.find("format");
  IQA_CHECK(fmt != meta.end() && fmt->second == kFormat, "checkpoint ", path, ": not an iqa.cu training checkpoint",
            " (metadata 'format' is ", fmt == meta.end() ? "absent" : "'" + fmt->second + "'", ")");
  auto ver = meta.find("version");
  IQA_CHECK(ver != meta.end() && ver->second == kVersion, "checkpoint ", path, ": unsupported version ",
            ver == meta.end() ? "(none)" : ver->second, ", expected ", kVersion);
  std::map<std::string, std::string> config;
  auto c = meta.find("config");
  if (c == meta.end()) return config;
  try {
    const nlohmann::json j = nlohmann::json::parse(c->second);
    IQA_CHECK(j.is_object(), "checkpoint ", path, ": metadata 'config' must be a JSON object, got ", c->second);
    for (auto it = j.begin(); it != j.end(); ++it) config[it.key()] = it.value().get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail(cat("checkpoint ", path, ": metadata 'config' is not a JSON object of strings: ", e.what()));
  }
  return config;
}
}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& s) {
  IQA_CHECK(s.model != nullptr, "save_checkpoint ", path, ": no model given");
  NamedTensors out;
  add_section(out, "model", s.model->state_dict());
  if (s.optimizer) add_section(out, "optimizer", s.optimizer->state_dict());
  if (s.ema) add_section(out, "ema", s.ema->state_dict());
  if (s.scaler) add_section(out, "scaler", s.scaler->state_dict());
  out.push_back({"step", exact_i64(s.step)});
  out.push_back({"epoch", exact_i64(s.epoch)});
  if (s.rng) {
    out.push_back({"rng.seed", exact_i64(int64_t(s.rng->seed))});  // u64 -> i64 keeps the bits
    out.push_back({"rng.offset", exact_i64(int64_t(s.rng->offset))});
  }
  nlohmann::json config = nlohmann::json::object();
  for (auto& [k, v] : s.config) config[k] = v;
  remove_stale_temporaries(path);  // only rank 0 writes a checkpoint path: any temporary copy is abandoned
  try {
    save_safetensors(path, out, {{"format", kFormat}, {"version", kVersion}, {"config", config.dump()}});
  } catch (const Error& e) {
    // Disk full and quota errors surface here: say how much room there was, and that the write was
    // atomic (the temporary file is removed, any earlier checkpoint at `path` is untouched).
    fail(cat("checkpoint ", path, ": not written (", free_space_text(path), "; the previous checkpoint, if any, is kept): ",
             e.what()));
  }
}

void load_checkpoint(const std::string& path, TrainingState& s) {
  SafetensorsFile file = SafetensorsFile::open(path);
  std::map<std::string, std::string> config = parse_config(file.metadata(), path);
  std::map<std::string, Tensor> all;
  for (auto& n : file.names()) all[n] = file.get(n);

  auto required = [&](const char* prefix) {
    auto sec = section(all, prefix);
    IQA_CHECK(!sec.empty(), "checkpoint ", path, ": has no '", prefix, "' section");
    return sec;
  };
  // The scalars are read first, so a file without them changes nothing. Each section's loader
  // validates its entries before assigning any.
  const int64_t step = read_i64(all, "step", path), epoch = read_i64(all, "epoch", path);
  int64_t seed = 0, offset = 0;
  if (s.rng) {
    seed = read_i64(all, "rng.seed", path);
    offset = read_i64(all, "rng.offset", path);
  }
  try {
    if (s.model) s.model->load_state_dict(required("model"), /*strict=*/true);
    if (s.optimizer) s.optimizer->load_state_dict(required("optimizer"));
    if (s.ema) s.ema->load_state_dict(required("ema"));
    if (s.scaler) s.scaler->load_state_dict(required("scaler"));
  } catch (const Error& e) {
    fail(cat("checkpoint ", path, ": ", e.what()));
  }
  if (s.rng) {
    s.rng->seed = uint64_t(seed);
    s.rng->offset = uint64_t(offset);
  }
  s.step = step;
  s.epoch = epoch;
  s.config = std::move(config);
}

std::map<std::string, std::string> read_checkpoint_config(const std::string& path) {
  return parse_config(SafetensorsFile::open(path).metadata(), path);
}

std::string safetensors_format(const std::string& path) {
  const SafetensorsMetadata meta = SafetensorsFile::open(path).metadata();
  const auto fmt = meta.find("format");
  return fmt == meta.end() ? "" : fmt->second;
}

namespace {

const std::string& config_text(const std::map<std::string, std::string>& config, const std::string& key,
                               const std::string& path) {
  const auto it = config.find(key);
  IQA_CHECK(it != config.end(), path, ": the checkpoint's config has no '", key, "'");
  return it->second;
}

}  // namespace

double config_number(const std::map<std::string, std::string>& config, const std::string& key, const std::string& path) {
  const std::string& text = config_text(config, key, path);
  // strtod, not from_chars: the loop stores its loss sums in hex ("%a") to resume bit for bit.
  // (Overflow gives inf, refused below; an underflow's tiny value is what was stored.)
  char* end = nullptr;
  const double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  IQA_CHECK(!text.empty() && end == text.c_str() + text.size() && std::isfinite(v), path,
            ": the checkpoint's config '", key, "' is '", text, "', not a finite number");
  return v;
}

int64_t config_integer(const std::map<std::string, std::string>& config, const std::string& key, const std::string& path,
                       int64_t lo, int64_t hi) {
  const std::string& text = config_text(config, key, path);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  IQA_CHECK(ec == std::errc() && end == text.data() + text.size() && v >= lo && v <= hi, path,
            ": the checkpoint's config '", key, "' is '", text, "', not a whole number in ", lo, "..", hi);
  return v;
}

}  // namespace iqa::training
