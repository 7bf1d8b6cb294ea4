// The built-in demo of sind-train (--demo): a synthetic, scene-structured IQA set generated on the fly
// and a short CPU-sized SIND run on it. Four kinds of procedural scenes (bricks, waves, rings,
// checker-noise), a few distortions of training/distort.h at levels 1..5; each scene's MOS is its own
// scale and shift of one shared latent quality, which is the situation SIND's per-scene
// scale/shift-invariant loss addresses. The last scene is held out (a leave-one-scene-out fold) and
// the model is trained with scale_shift and with l1, printed side by side.
#pragma once
#include <cstdint>
#include <string>

#include "training/dataset.h"
#include "training/sind_config.h"

namespace iqa::training {

struct DemoSetOptions {
  int scenes = 4;
  int references_per_scene = 2;
  int width = 256, height = 192;
  uint64_t seed = 7;
};

// Writes the images under <dir>/images and returns the listing (paths relative to dir). MOS of an
// image = scale[scene] * latent + shift[scene], latent falling with the distortion level.
DatasetList make_demo_dataset(const std::string& dir, const DemoSetOptions& opts = {});

// The demo's configuration: tiny CLIP ViT, --local_global, scale_shift with scene sampling 2, a few
// epochs at a learning rate suited to a from-scratch tiny model.
SindConfig demo_config(const std::string& project_dir);

// Generates the set into <project_dir>/data, trains scale_shift and l1 on every scene but the last,
// evaluates on the last, prints both and their summary. Returns 0, or 130 when interrupted.
int run_demo(const SindConfig& base);

}  // namespace iqa::training
