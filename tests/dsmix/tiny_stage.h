// The tiny DSMix stage runs the stage tests share: six 48x48 procedural references distorted on the fly
// (made once per test process), 32x32 crops, tiny networks and a per-stage configuration; a stage-1
// checkpoint for the stage-2 tests, and bit-exact comparison of checkpoints' weights.
#pragma once
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>  // getpid: ctest runs test cases as parallel processes
#include <vector>

#include "engine/safetensors.h"
#include "training/dsmix/config.h"
#include "training/dsmix/demo.h"
#include "training/dsmix/trainer.h"
#include "training/epoch_loop.h"

namespace iqa::testing::dsmix_tiny {

using namespace iqa::training;

inline std::string fresh_dir(const std::string& name) {
  const std::string d = (std::filesystem::temp_directory_path() / ("iqa_dsmix_" + name + "_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(d);
  return d;
}

// Six 48x48 procedural references, distorted on the fly with three types (one per reference).
inline const std::string& reference_dir() {
  static const std::string dir = [] {
    const std::string d = fresh_dir("refs");
    write_procedural_references(d, 6, 48, 48, 3);
    return d;
  }();
  return dir;
}

inline TrainHooks quiet() {
  TrainHooks h;
  h.progress = false;
  return h;
}

inline DsmixConfig tiny_config(DsmixStage stage, const std::string& project) {
  DsmixConfig c;
  c.stage = stage;
  c.project_dir = project;
  c.crop = 32;
  c.num_workers = 2;
  c.device = DeviceChoice::CPU;
  c.log_every = 1;
  c.dsm_model = DsmModel::Tiny;
  c.qe_model = QeModel::Tiny;
  c.references = reference_dir();
  c.types = {1, 11, 21};
  c.holdout = 0.2;  // 1 of 6 references
  if (stage == DsmixStage::DSM) {
    c.epochs = 2;
    c.batch_size = 5;
    c.lr = 1e-3;
  } else if (stage == DsmixStage::QEP) {
    c.epochs = 3;
    c.batch_size = 6;
    c.images_per_reference = 3;
    c.lr = 0.02;
  }
  return c;
}

// A stage-1 checkpoint for the stage-2 tests (one epoch is enough: only its maps are used).
inline const std::string& dsm_checkpoint() {
  static const std::string path = [] {
    DsmixConfig c = tiny_config(DsmixStage::DSM, fresh_dir("dsm_fixture"));
    c.epochs = 1;
    train_dsm(c, quiet());
    return c.project_dir + "/checkpoints/last.safetensors";
  }();
  return path;
}

// Bit-for-bit equality of two tensors' values.
inline void require_equal(const Tensor& a, const Tensor& b, const std::string& what) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> x = a.to_vector_f64(), y = b.to_vector_f64();
  size_t differing = 0;
  for (size_t i = 0; i < x.size(); ++i) differing += x[i] != y[i];
  INFO(what << ": " << differing << " of " << x.size() << " elements differ");
  REQUIRE(differing == 0);
}

// The model.* tensors of a checkpoint, without the prefix.
inline std::map<std::string, Tensor> checkpoint_model(const std::string& path) {
  std::map<std::string, Tensor> out;
  for (const auto& [n, t] : load_safetensors(path))
    if (n.rfind("model.", 0) == 0) out[n.substr(6)] = t;
  return out;
}

}  // namespace iqa::testing::dsmix_tiny
