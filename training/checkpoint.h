// The project's own training checkpoints: one safetensors file holding everything a run needs to
// continue bit-exactly, written atomically (engine/safetensors.h: temp file, fsync, rename).
//   model.<name>        the model's state dict (parameters and buffers)
//   optimizer.<key>     Optimizer::state_dict() (per-parameter step and moments, group lrs)
//   ema.<key>           ExponentialMovingAverage::state_dict() (shadows, num_updates)
//   scaler.<key>        amp::GradScaler::state_dict()
//   step, epoch         i64 scalars
//   rng.seed, rng.offset  the Philox generator (u64 stored bit-for-bit as i64)
// Metadata: "format" = "iqa.cu-checkpoint", "version" = "1", "config" = the run's config as a JSON
// object of strings.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "engine/amp.h"
#include "engine/ema.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/random.h"

namespace iqa::training {

// What a checkpoint saves from / restores into. Null members are not saved (on save) or not
// restored (on load); a member given on load whose section the file lacks is an error.
struct TrainingState {
  Module* model = nullptr;
  Optimizer* optimizer = nullptr;
  ExponentialMovingAverage* ema = nullptr;
  amp::GradScaler* scaler = nullptr;
  Generator* rng = nullptr;
  int64_t step = 0;
  int64_t epoch = 0;
  std::map<std::string, std::string> config;
};

void save_checkpoint(const std::string& path, const TrainingState& state);
// Restores every non-null member and sets step, epoch and config. The model loads strictly.
void load_checkpoint(const std::string& path, TrainingState& state);
// The config stored in a checkpoint, without loading anything else.
std::map<std::string, std::string> read_checkpoint_config(const std::string& path);
// A number in a checkpoint's config (stored as text): an iqa::Error naming the file and the key when
// it is missing, is not a number in full, or (integers) lies outside [lo, hi]. A damaged checkpoint
// then says where, instead of escaping as std::stoi's bare exception.
double config_number(const std::map<std::string, std::string>& config, const std::string& key, const std::string& path);
int64_t config_integer(const std::map<std::string, std::string>& config, const std::string& key, const std::string& path,
                       int64_t lo, int64_t hi);
// A safetensors file's metadata 'format' ("" when it has none, as tools/export_weights.py's files;
// "iqa.cu-checkpoint" for these checkpoints). An unreadable file throws.
std::string safetensors_format(const std::string& path);
inline constexpr const char* kTrainingCheckpointFormat = "iqa.cu-checkpoint";

}  // namespace iqa::training
