// The built-in demo of sind-train (--demo): a synthetic, scene-structured IQA set generated on the fly
// and a short CPU-sized SIND run on it.
//
// The set: four kinds of procedural scenes (bricks, waves, rings, checker-noise), a few references per
// scene, each distorted by five distortions of training/distort/distort.h at levels 1..5. The shared latent
// quality of an image is 1 - (RMS change the distortion made) / 0.1, a full-reference judgement that
// falls with the level (denoise's can plateau between adjacent levels); each scene's MOS is its own
// scale and shift of it, the situation SIND's per-scene scale/shift-invariant loss addresses.
//
// What makes it learnable from scratch in about a minute per loss on 2 CPU cores:
// - the noise family of the 25 distortions only (white noise, its per-channel form, impulse noise,
//   multiplicative noise, denoise): each changes every 32x32 mosaic cell and the 224 global crop.
//   The other twenty (blur, colour, brightness, compression, spatial ones) each need their own cue,
//   which a randomly initialised width-64 ViT does not pick up in this budget (with Gaussian blur in
//   the mix it stayed near SRCC 0.55); the real runs start from pretrained CLIP for that.
// - the scenes' contrast squeezed to 0.15x around mid-grey (DemoSetOptions::contrast), so the
//   distortion, not the scene content, dominates what the model sees (in probes at 0.3x the held-out
//   SRCC stayed near 0.2-0.3);
// - the tiny ViT with 16-pixel patches ("tiny16"): 32-pixel patches average the noise away.
//
// The last scene is held out (a leave-one-scene-out fold); the model is trained with scale_shift and
// with l1, printed side by side with their summary tables.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "training/data/dataset.h"
#include "training/sind/config.h"
#include "training/sind/trainer.h"

namespace iqa::training {

struct DemoSetOptions {
  int scenes = 4;
  int references_per_scene = 4;
  int width = 256, height = 192;
  double contrast = 0.15;  // scene pixels = 0.5 + contrast * (pattern - 0.5), before distortion
  uint64_t seed = 7;
};

// The distortions the demo uses (KADID type ids) and their names joined by ", ".
const std::vector<int>& demo_distortions();
std::string demo_distortion_names();

// Writes the images under <dir>/images and returns the listing (paths relative to dir). MOS of an
// image = scale[scene] * latent + shift[scene], latent = 1 - RMS change / 0.1 (+-0.005 jitter). Each
// reference yields 25 images (5 distortions x 5 levels).
DatasetList make_demo_dataset(const std::string& dir, const DemoSetOptions& opts = {});

// The demo's configuration: tiny16 CLIP ViT, --local_global, scale_shift with scene sampling 2, a few
// epochs without warm-up at a learning rate suited to a from-scratch tiny model.
SindConfig demo_config(const std::string& project_dir);

struct DemoLossResult {
  std::string loss;
  EvalPoint best, last;  // on the held-out scene: best-epoch (the reference's selection) and final
};
struct DemoReport {
  std::vector<DemoLossResult> runs;
  bool interrupted = false;
};

// Generates the set into <base.project_dir>/data, trains each loss on every scene but the last and
// evaluates on the last, writing the per-epoch lines and the side-by-side summary to `out`.
DemoReport run_demo_losses(const SindConfig& base, const DemoSetOptions& set, const std::vector<std::string>& losses,
                           std::ostream& out, const TrainHooks& hooks = {});

// sind-train --demo: run_demo_losses with the default set and both losses, printed to stdout.
// Returns 0, or 130 when interrupted.
int run_demo(const SindConfig& base);

}  // namespace iqa::training
