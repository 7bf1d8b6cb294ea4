// The tiny SIND runs the trainer tests share: a small synthetic scene-structured set (2 scenes x 25
// images, 128x96, made once per test process), a cheap configuration and a test subset.
#pragma once
#include <filesystem>
#include <string>
#include <unistd.h>  // getpid: ctest runs test cases as parallel processes

#include "training/sind/demo.h"
#include "training/sind/trainer.h"

namespace iqa::training::tiny_run {

// The set, generated once per process.
struct SmallSet {
  std::string dir;
  DatasetList list;
  SmallSet() {
    dir = (std::filesystem::temp_directory_path() / ("iqa_test_train_set_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(dir);
    list = make_demo_dataset(dir, DemoSetOptions{.scenes = 2, .references_per_scene = 1, .width = 128, .height = 96});
  }
};
inline const SmallSet& small_set() {
  static SmallSet s;
  return s;
}

inline SindConfig tiny_config(const std::string& project) {
  SindConfig c = demo_config(project);
  // The trainer's mechanics, not learning: the cheaper 32-pixel-patch tiny ViT, with warm-up.
  c.clip_model = ClipModel::Tiny;
  c.warmup_epoch = 1;
  c.lr = 1e-3;
  c.data_root = small_set().dir;
  c.batch_size = 10;
  c.scene_sampling = 2;
  c.epochs = 2;
  c.num_workers = 2;
  c.device = DeviceChoice::CPU;
  c.log_every = 1;
  return c;
}

inline TrainData tiny_data() {
  TrainData d;
  d.train = small_set().list;
  DatasetList test;
  for (size_t i = 0; i < d.train.entries.size(); i += 3) test.entries.push_back(d.train.entries[i]);
  d.tests.push_back({"subset", test});
  return d;
}

inline std::string fresh_dir(const std::string& name) {
  const std::string d = (std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(d);
  return d;
}

inline TrainHooks quiet() {
  TrainHooks h;
  h.progress = false;
  return h;
}

}  // namespace iqa::training::tiny_run
