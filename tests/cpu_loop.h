// The epoch-loop tests' common wiring: a model trained on the CPU, one rank, resuming from run_dir's
// checkpoint when there is one (training/epoch_loop.h). Each test adds its data, loss and passes.
#pragma once
#include <string>

#include "training/epoch_loop.h"

namespace iqa::testing {

inline training::EpochLoop cpu_loop(const std::string& tool, const std::string& run_dir, training::RunLog& log,
                                    dist::Communicator& comm, Module& model, Optimizer& opt) {
  training::EpochLoop loop;
  loop.tool = tool;
  loop.run_dir = run_dir;
  loop.log = &log;
  loop.comm = &comm;
  loop.resume = "auto";
  loop.model = &model;
  loop.optimizer = &opt;
  loop.params = model.parameters();
  return loop;
}

}  // namespace iqa::testing
