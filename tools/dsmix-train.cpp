// dsmix-train: DSMix's three stages (shared/spec/dsmix.md; training/dsmix/trainer.h).
//   dsmix-train --demo
//   dsmix-train --stage dsm --kadis_root /data/kadis700k --project_dir runs/dsm
//   dsmix-train --stage qep --kadis_root /data/kadis700k --dsm_checkpoint runs/dsm/checkpoints/last.safetensors \
//               --teacher resnet50_imagenet.safetensors --project_dir runs/qep
//   dsmix-train --stage lp --encoder runs/qep/encoder.safetensors --dataset csiq --data_root data --json_root data_json
// Flags are registered in tools/dsmix_flags.h.
#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/error.h"
#include "tools/dsmix_flags.h"
#include "training/dsmix/demo.h"
#include "training/dsmix/trainer.h"
#include "training/run_log.h"
#include "tools/tool_main.h"

using namespace iqa::training;

int main(int argc, char** argv) {
  return iqa::tools::tool_main<DsmixArgs>(
      argc, argv,
      "dsmix-train: DSMix pre-training (stage dsm: sensitivity maps; qep: quality encoder with DSMix + "
      "distillation) and linear probing (lp)",
      add_dsmix_flags, [&](DsmixArgs& a, const CLI::App& app) {
        finish_dsmix_args(a, app);
        const DsmixConfig& c = a.c;
        install_stop_handlers();
        if (c.demo) {
          DsmixConfig d;
          d.project_dir = app.count("--project_dir") ? c.project_dir : "dsmix-demo";
          d.device = c.device;
          d.num_workers = app.count("--num_workers") ? c.num_workers : 2;
          d.seed = c.seed;
          d.resume = c.resume;
          return run_dsmix_demo(d);
        }
        const StageResult r = run_dsmix_stage(c);
        return r.interrupted ? 130 : 0;
      });
}
