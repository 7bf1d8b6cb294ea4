#include "tests/reliability/tiny_run.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "engine/comm_tcp.h"
#include "training/data/dataset.h"
#include "training/sind/demo.h"

namespace iqa::testing {
namespace fs = std::filesystem;

TinyRun::TinyRun(const std::string& name)
    : root(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
  fs::remove_all(root);
  data = (root / "data").string();
  json = (root / "train.json").string();
  using namespace iqa::training;
  write_data_json(json, make_demo_dataset(data, DemoSetOptions{.scenes = 2, .references_per_scene = 1, .width = 96,
                                                               .height = 96}));
}

TinyRun::~TinyRun() {
  std::error_code ec;
  fs::remove_all(root, ec);
}

std::vector<std::string> TinyRun::args(const std::string& project_dir, const std::vector<std::string>& extra) const {
  // --log_every 3: the loop's losses stay unread between log points, so kills land between a step and
  // the read of its loss (the deferred path of training/epoch_loop.cpp), not only right after a read.
  std::vector<std::string> a = {
      sibling_binary("sind-train"), "--exp_type", "cross-set", "--train_dataset", json, "--test_dataset", json,
      "--data_root", data, "--project_dir", project_dir, "--clip_model", "tiny", "--loss_type", "l1",
      "--scene_sampling", "0", "--batch_size", "10", "--epochs", "2", "--warmup_epoch", "0", "--lr", "1e-2",
      "--num_workers", "1", "--device", "cpu", "--seed", "3", "--eval_every", "1", "--log_every", "3",
      "--resume", "auto"};
  // extra is flag/value pairs: a flag already there gets the new value (CLI11 refuses a repeat).
  for (size_t i = 0; i + 1 < extra.size(); i += 2) {
    auto it = std::find(a.begin(), a.end(), extra[i]);
    if (it != a.end()) *(it + 1) = extra[i + 1];
    else a.insert(a.end(), {extra[i], extra[i + 1]});
  }
  return a;
}

ChildResult TinyRun::run(const std::vector<std::string>& argv, const std::string& kill_at,
                         long long file_size_limit) const {
  ChildOptions o;
  o.env = {{"OMP_NUM_THREADS", "1"}, {"IQA_KILL_AT", kill_at}};
  o.log = (root / "child.log").string();
  o.file_size_limit = file_size_limit;
  return run_child(argv, o);
}

fs::path find_checkpoint(const std::string& project_dir) {
  if (!fs::exists(project_dir)) return {};
  for (const auto& e : fs::recursive_directory_iterator(project_dir))
    if (e.path().filename() == "last.safetensors") return e.path();
  return {};
}

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

RankProcesses start_ranks(const TinyRun& tiny, int world, const std::vector<std::string>& argv, const std::string& tag,
                          const std::function<std::map<std::string, std::string>(int rank)>& extra_env) {
  const std::string port = std::to_string(dist::find_free_tcp_port());
  RankProcesses p;
  for (int r = 0; r < world; ++r) {
    ChildOptions o;
    o.env = {{"RANK", std::to_string(r)}, {"LOCAL_RANK", std::to_string(r)}, {"WORLD_SIZE", std::to_string(world)},
             {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}, {"OMP_NUM_THREADS", "1"}};
    if (extra_env)
      for (const auto& [k, v] : extra_env(r)) o.env[k] = v;
    o.log = (tiny.root / (tag + "_rank" + std::to_string(r) + ".log")).string();
    p.logs.push_back(o.log);
    p.pids.push_back(start_child(argv, o));
  }
  return p;
}

}  // namespace iqa::testing
