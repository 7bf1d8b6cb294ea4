// engine-smoke's command line, registered here rather than in its main so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the tool does, without training anything.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>

#include "tools/cli_bounds.h"
#include "tools/cli_choice.h"

namespace iqa::training {
// The engine's autocast alone: bf16 needs no loss scaling, so this tool needs no GradScaler.
enum class SmokeAutocast { None, BF16 };
IQA_CHOICE_SPELLINGS(SmokeAutocast, "--autocast", {SmokeAutocast::None, "none"}, {SmokeAutocast::BF16, "bf16"});
}  // namespace iqa::training

namespace iqa {

struct EngineSmokeArgs {
  int steps = 400, print_every = 50, samples = 512;
  double lr = 3e-3;
  uint64_t seed = 0;
  training::DeviceChoice device = training::DeviceChoice::Auto;
  training::SmokeAutocast autocast = training::SmokeAutocast::None;
};

inline void add_engine_smoke_flags(CLI::App& app, EngineSmokeArgs& a) {
  app.add_option("--steps", a.steps, "optimizer steps")->check(tools::at_least(1));
  app.add_option("--lr", a.lr, "Adam learning rate")->check(tools::greater_than(0));
  app.add_option("--samples", a.samples, "training set size (full-batch training)")->check(tools::at_least(1));
  app.add_option("--print-every", a.print_every, "print the loss every N steps")->check(tools::at_least(1));
  app.add_option("--seed", a.seed, "Philox seed for data and init");
  training::add_choice(app, "--device", a.device, "auto (CUDA when a GPU is usable), cpu or cuda");
  training::add_choice(app, "--autocast", a.autocast, "CUDA compute dtype: none or bf16");
}

}  // namespace iqa
