#include "training/sind/demo.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>

#include "engine/error.h"
#include "training/distort/distort.h"
#include "training/image/encode.h"
#include "training/sind/protocols.h"
#include "training/run_log.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSceneNames[] = {"bricks", "waves", "rings", "checker-noise"};
// The noise family of the 25 (see the header for why not all of them): each adds pixel-level
// change that shows in every 32x32 mosaic cell and in the 224 global crop.
constexpr Distortion kTypes[] = {Distortion::WhiteNoise, Distortion::WhiteNoiseColorComponent, Distortion::ImpulseNoise,
                                 Distortion::MultiplicativeNoise, Distortion::Denoise};
// Latent = 1 - RMS change / kRmsAtZero: the level-5 white noise (RMS ~0.1) sits near 0.
constexpr double kRmsAtZero = 0.1;
// Per-scene MOS = scale * latent + shift: different units and offsets per scene.
constexpr double kScale[] = {60, 25, 40, 15}, kShift[] = {20, 55, 5, 70};

double hash01(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return double((x ^ (x >> 31)) >> 11) * 0x1.0p-53;
}

// Smooth value noise on a coarse lattice, for texture variety.
double value_noise(double x, double y, uint64_t seed) {
  const int xi = int(std::floor(x)), yi = int(std::floor(y));
  const double fx = x - xi, fy = y - yi;
  auto at = [&](int a, int b) { return hash01(seed ^ (uint64_t(uint32_t(a)) << 32 | uint32_t(b))); };
  const double sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy);
  const double top = at(xi, yi) * (1 - sx) + at(xi + 1, yi) * sx;
  const double bot = at(xi, yi + 1) * (1 - sx) + at(xi + 1, yi + 1) * sx;
  return top * (1 - sy) + bot * sy;
}

ImageF scene_image(int kind, int variant, int w, int h, uint64_t seed) {
  ImageF img(w, h, 3);
  const double phase = 0.7 * variant, f = 1.0 + 0.35 * variant;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double r = 0, g = 0, b = 0;
      const double u = double(x) / w, v = double(y) / h;
      const double n = value_noise(x / 24.0, y / 24.0, seed + uint64_t(variant));
      if (kind == 0) {  // bricks: staggered rectangles with mortar lines
        const int row = int(y / (18 / f));
        const double bx = (x + (row % 2) * 20) / (40 / f), by = y / (18 / f);
        const bool mortar = bx - std::floor(bx) < 0.08 || by - std::floor(by) < 0.12;
        const double tone = 0.45 + 0.35 * hash01(uint64_t(int(bx)) * 131 + uint64_t(row) + seed);
        r = mortar ? 0.85 : tone + 0.1 * n, g = mortar ? 0.82 : 0.35 * tone, b = mortar ? 0.78 : 0.25 * tone;
      } else if (kind == 1) {  // waves: coloured sinusoidal stripes
        const double s = std::sin(2 * M_PI * (f * 6 * u + 2 * std::sin(2 * M_PI * v + phase)));
        r = 0.3 + 0.25 * s, g = 0.5 + 0.3 * std::sin(2 * M_PI * (4 * v + phase)), b = 0.6 + 0.3 * s * n;
      } else if (kind == 2) {  // rings: concentric circles over a gradient
        const double d = std::hypot(u - 0.5 - 0.1 * variant, v - 0.5);
        const double s = 0.5 + 0.5 * std::cos(2 * M_PI * d * 12 * f);
        r = 0.2 + 0.6 * u * s, g = 0.3 + 0.5 * s, b = 0.8 - 0.5 * v;
      } else {  // checker-noise: a checkerboard modulated by smooth noise
        const bool c = (int(x / (16 / f)) + int(y / (16 / f))) % 2;
        r = (c ? 0.8 : 0.2) * (0.6 + 0.4 * n), g = 0.5 * n + 0.2, b = c ? 0.3 : 0.7;
      }
      img.at(y, x, 0) = float(std::clamp(r, 0.0, 1.0));
      img.at(y, x, 1) = float(std::clamp(g, 0.0, 1.0));
      img.at(y, x, 2) = float(std::clamp(b, 0.0, 1.0));
    }
  return img;
}

double rms_change(const ImageF& a, const ImageF& b) {
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double e = double(a.pixels[i]) - double(b.pixels[i]);
    se += e * e;
  }
  return std::sqrt(se / double(a.pixels.size()));
}

// Squeezes the pattern's contrast towards mid-grey, so the distortions dominate the scene content.
void squeeze_contrast(ImageF& img, double contrast) {
  for (float& v : img.pixels) v = float(0.5 + contrast * (double(v) - 0.5));
}

}  // namespace

const std::vector<int>& demo_distortions() {
  static const std::vector<int> types = [] {
    std::vector<int> t;
    for (Distortion d : kTypes) t.push_back(int(d));
    return t;
  }();
  return types;
}

std::string demo_distortion_names() {
  std::string s;
  for (int t : demo_distortions()) s += (s.empty() ? "" : ", ") + std::string(distortion_name(t));
  return s;
}

DatasetList make_demo_dataset(const std::string& dir, const DemoSetOptions& opts) {
  IQA_CHECK(opts.scenes >= 2 && opts.scenes <= 4, "make_demo_dataset: 2..4 scenes, got ", opts.scenes);
  IQA_CHECK(opts.references_per_scene >= 1, "make_demo_dataset: references_per_scene must be >= 1, got ",
            opts.references_per_scene);
  IQA_CHECK(opts.contrast > 0 && opts.contrast <= 1, "make_demo_dataset: contrast must be in (0, 1], got ", opts.contrast);
  fs::create_directories(dir + "/images");
  const int types = int(demo_distortions().size()), per_ref = types * kNumDistortionLevels;
  const int refs = opts.scenes * opts.references_per_scene;
  DatasetList list;
  for (int s = 0; s < opts.scenes; ++s) list.domain_names[s] = kSceneNames[s];
  list.entries.resize(size_t(refs) * size_t(per_ref));
  // One reference per iteration, in parallel: every image's seed and slot follow from its index, so
  // the set is the same on any number of threads. Errors are carried out of the parallel region.
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic)
  for (int r = 0; r < refs; ++r) {
    try {
      const int s = r / opts.references_per_scene, ref = r % opts.references_per_scene;
      ImageF pristine = scene_image(s, ref, opts.width, opts.height, opts.seed * 1000 + uint64_t(s));
      squeeze_contrast(pristine, opts.contrast);
      for (int t = 0; t < types; ++t)
        for (int level = 1; level <= kNumDistortionLevels; ++level) {
          const uint64_t id = uint64_t(r) * uint64_t(per_ref) + uint64_t(t * kNumDistortionLevels + level - 1);
          const int type = demo_distortions()[size_t(t)];
          const ImageF d = apply_distortion(pristine, type, level, distortion_seed(opts.seed, id, type, level));
          // The shared latent quality: how much the distortion changed the image (a full-reference
          // judgement), which falls with the level (denoise's can plateau); a small per-image jitter keeps the
          // images of different references apart.
          const double latent = 1.0 - rms_change(pristine, d) / kRmsAtZero + 0.01 * (hash01(opts.seed + id) - 0.5);
          char name[96];
          std::snprintf(name, sizeof name, "images/s%d_r%d_%s_l%d.png", s, ref, distortion_name(type), level);
          // PNG: lossless, so the labelled distortion is the only degradation the model sees.
          write_png(dir + "/" + name, to_u8(d));
          DatasetEntry& e = list.entries[size_t(id)];
          e.image = name;
          e.score = kScale[s] * latent + kShift[s];
          e.domain_id = s;
          e.scene = kSceneNames[s];
          e.dist_type = distortion_name(type);
          e.reference = "s" + std::to_string(s) + "_r" + std::to_string(ref);
        }
    } catch (...) {
#pragma omp critical(iqa_demo_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return list;
}

SindConfig demo_config(const std::string& project_dir) {
  SindConfig c;
  c.demo = true;
  c.clip_model = ClipModel::Tiny16;
  c.local_global = true;
  c.loss_type = LossType::ScaleShift;
  c.scene_sampling = 2;
  c.batch_size = 16;
  c.epochs = 1;        // 2 passes (the loop runs epochs + 1 times): the held-out SRCC is ~0.9 after the first
  c.warmup_epoch = 0;  // a from-scratch model at this lr needs no warm-up, and the run is short
  c.lr = 2e-3;         // from-scratch tiny model: the reference's 1e-5 is for fine-tuning pretrained CLIP
  c.weight_decay = 1e-5;
  c.eval_every = 1;
  c.exp_type = Protocol::LeaveOneOut;
  c.project_dir = project_dir;
  c.num_workers = 2;
  c.device = DeviceChoice::Auto;
  c.cache_dir = "auto";  // the views are cut from decoded resizes after the first pass (the same bytes)
  return c;
}

DemoReport run_demo_losses(const SindConfig& base, const DemoSetOptions& set, const std::vector<std::string>& losses,
                           std::ostream& out, const TrainHooks& hooks) {
  const std::string data_dir = base.project_dir + "/data";
  out << "sind-train --demo: generating a synthetic scene-structured IQA set in " << data_dir << std::endl;
  DatasetList all = make_demo_dataset(data_dir, set);
  const int held_out = set.scenes - 1;
  DatasetList train, test;
  for (const auto& e : all.entries) (e.domain_id == held_out ? test : train).entries.push_back(e);
  train.domain_names = test.domain_names = all.domain_names;
  write_data_json(data_dir + "/all.json", all);
  out << all.entries.size() << " images: " << set.scenes << " scenes x " << set.references_per_scene
      << " references x " << demo_distortions().size() << " distortions x " << kNumDistortionLevels << " levels"
      << "\ndistortions: " << demo_distortion_names()
      << "\n  (the noise family of the 25: the other twenty each need their own cue, which a from-scratch tiny ViT"
      << " does not learn in a CPU-minute; the real runs start from pretrained CLIP)"
      << "\nscenes' contrast squeezed to " << set.contrast << "x around mid-grey; latent = 1 - RMS change / " << kRmsAtZero
      << "; MOS = scene scale x latent + scene shift\ntraining on scenes 0.." << held_out - 1
      << ", testing on the unseen scene " << held_out << " (" << kSceneNames[held_out] << ", " << test.entries.size()
      << " images)\n";

  DemoReport report;
  for (const std::string& loss : losses) {
    SindConfig c = base;
    c.data_root = data_dir;
    c.loss_type = parse_choice<LossType>(loss);
    c.project_dir = base.project_dir + "/" + loss;
    // One cache for every loss's run: the images and views are the same.
    if (c.cache_dir == "auto") c.cache_dir = base.project_dir + "/view_cache";
    out << "\n== loss " << loss << " ==" << std::endl;
    ProtocolRun run{"", {}};
    run.data.train = train;
    run.data.tests.push_back({"scene" + std::to_string(held_out) + "-" + kSceneNames[held_out], test});
    ProtocolSummary s = run_protocol(c, {run}, hooks);
    for (const auto& l : s.lines) out << l << "\n";
    if (s.interrupted) {
      report.interrupted = true;
      return report;
    }
    const SetResult& r = s.results.at(0).second.sets.at(0);
    report.runs.push_back(DemoLossResult{loss, r.best_on_test(), r.last()});
  }
  out << "\nLeave-one-scene-out on the unseen scene, side by side (EMA weights, 9-crop):\n"
      << "  loss          best-epoch SRCC  PLCC    final SRCC  PLCC\n";
  for (const DemoLossResult& r : report.runs) {
    char row[160];
    std::snprintf(row, sizeof row, "  %-12s  %.4f (ep %d)  %.4f    %.4f      %.4f\n", r.loss.c_str(), r.best.srcc,
                  r.best.epoch, r.best.plcc, r.last.srcc, r.last.plcc);
    out << row;
  }
  out << "'best-epoch' picks the epoch by the test SRCC itself (the reference's selection, optimistic); 'final' "
      << "is the last epoch.\nThe demo's runs are in " << base.project_dir
      << "/{scale_shift,l1} (train.log, metrics.jsonl, curves.svg, checkpoints/)." << std::endl;
  return report;
}

int run_demo(const SindConfig& base) {
  const DemoReport r = run_demo_losses(base, DemoSetOptions{}, {"scale_shift", "l1"}, std::cout);
  return r.interrupted ? 130 : 0;
}

}  // namespace iqa::training
