// sind-train: trains and evaluates SIND (shared/spec/sind.md) with the reference's flags; see
// training/sind/config.h for their meanings and training/sind/protocols.h for the experiment types.
//   sind-train --demo                      a synthetic scene-structured set and a short CPU run
//   sind-train --clip_model openai/ViT-B-16 --local_global --loss_type scale_shift --scene_sampling 2 \
//              --train_dataset spaq --test_dataset spaq --exp_type leave-one-out ...   (the README's lines)
// Flags are registered in tools/sind_flags.h. Without --pretrained, ./weights/<model>.safetensors is used
// when present; a full-size model never starts from random weights unless --from_scratch says so.
#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/error.h"
#include "tools/sind_flags.h"
#include "tools/tool_main.h"
#include "training/sind/protocols.h"
#include "training/run_log.h"
#include "training/sind/config.h"
#include "training/sind/demo.h"

using namespace iqa::training;

int main(int argc, char** argv) {
  return iqa::tools::tool_main<SindConfig>(
      argc, argv, "sind-train: SIND training and evaluation (leave-one-out, cross-set, random-split)", add_sind_flags,
      [&](SindConfig& c, const CLI::App& app) {
        install_stop_handlers();
        if (c.demo) {
          // The demo's defaults, then any flag given explicitly on the command line.
          SindConfig d = demo_config(app.count("--project_dir") ? c.project_dir : "demo-run");
          CLI::App again{"demo"};
          add_sind_flags(again, d);
          again.parse(argc, argv);
          d.validate();
          return run_demo(d);
        }
        use_default_weights(c, "./weights");
        c.validate();
        ProtocolSummary s = run_protocol(c, plan_protocol(c));
        for (const auto& l : s.lines) std::cout << l << "\n";
        return s.interrupted ? 130 : 0;
      });
}
