// dsmix-train --demo: all three DSMix stages on a CPU in a few minutes, with tiny networks (a 2-layer
// width-64 ViT with 8x8 patches behind a two-conv stem, a one-block-per-stage ResNet) at 64x64 crops:
//   stage 1 and 2 on procedurally generated 96x96 references (400 for stage 1, 120 for stage 2)
//   distorted on the fly with six fast KADID types (Gaussian blur, JPEG, white noise, impulse noise,
//   pixelate, multiplicative noise: the demo's choice: cheap to render, and local, so a no-reference
//   network can see them; two types per reference, all five levels);
//   stage 3 on a synthetic IQA set of other procedural references whose MOS falls with the level,
//   probed with the stage-2 encoder and with a randomly initialised encoder of the same shape.
// Stage 2 runs without distillation (no ImageNet teacher in a demo; the log says so).
#pragma once
#include <cstdint>
#include <string>

#include "training/data/dataset.h"
#include "training/dsmix/config.h"
#include "training/dsmix/trainer.h"
#include "training/image/image.h"

namespace iqa::training {

// One procedural reference: a two-colour gradient, random discs, rectangles, rings and striped
// patches, coarse value noise and a fine two-octave texture over everything, all drawn from `seed`.
ImageU8 procedural_reference(int width, int height, uint64_t seed);

// Writes `count` references as PNGs into dir (ref_000.png, ...).
void write_procedural_references(const std::string& dir, int count, int width, int height, uint64_t seed);

// The demo's distortion types.
const std::vector<int>& demo_distortion_types();

// A synthetic IQA set: `references` procedural references, each distorted by every demo type at every
// level (kadis_distort), written as PNGs under dir/images; MOS = 5 - 4 * severity(type) * (level - 1) / 4
// plus a little jitter. Entries name their reference (content-disjoint splits). Paths relative to dir.
DatasetList make_demo_iqa_set(const std::string& dir, int references, int width, int height, uint64_t seed);

// The demo's base configuration (tiny models, crop 64, CPU-sized recipe) for `stage`.
DsmixConfig demo_stage_config(const std::string& project_dir, DsmixStage stage);

// How much data and how many epochs the demo uses; the defaults are `dsmix-train --demo`'s, the test
// runs a smaller one.
struct DemoSize {
  // Stage 1 gets its own, larger pool (about 1.3 s to draw): its 1000 steps then keep meeting new
  // contents; on a 40-reference pool the plain tiny ViT memorised the 32 training contents (measured).
  int dsm_references = 400;  // stage 1 references (96x96)
  // Stage 2: measured (seeds 0-2, the same stage 1), 120 references for 13 epochs probe better than
  // 40 for 40 epochs at the same cost: SRCC 0.55 / 0.61 / 0.53 against 0.45 / 0.58 / 0.45.
  int references = 120;      // stage 2 references (96x96)
  int lp_references = 24;  // references of the synthetic IQA set (x 6 types x 5 levels)
  int dsm_epochs = 0;      // 0: demo_stage_config's
  int qep_epochs = 0;
  int lp_epochs = 0;
  int lp_splits = 0;
};

struct DemoResult {
  StageResult dsm, qep, lp, lp_random;
  bool interrupted = false;
};

// Generates the data and runs the three stages and the random-encoder probe in base.project_dir
// (device, num_workers, seed and resume taken from base).
DemoResult run_demo_stages(const DsmixConfig& base, const DemoSize& size, const TrainHooks& hooks = {});

// Runs the demo in base.project_dir (device, num_workers and seed taken from base) and prints the
// summary. Returns 0, or 130 when interrupted.
int run_dsmix_demo(const DsmixConfig& base);

}  // namespace iqa::training
