#include "training/sind_demo.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/error.h"
#include "training/distort.h"
#include "training/encode.h"
#include "training/protocols.h"
#include "training/run_log.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSceneNames[] = {"bricks", "waves", "rings", "checker-noise"};
// Distortions with a clear monotone effect, and how strongly each level-5 version hurts quality.
constexpr int kTypes[] = {int(Distortion::GaussianBlur), int(Distortion::WhiteNoise), int(Distortion::Jpeg),
                          int(Distortion::Pixelate), int(Distortion::ContrastChange)};
constexpr double kSeverity[] = {1.0, 0.9, 0.8, 0.85, 0.6};
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

}  // namespace

DatasetList make_demo_dataset(const std::string& dir, const DemoSetOptions& opts) {
  IQA_CHECK(opts.scenes >= 2 && opts.scenes <= 4, "make_demo_dataset: 2..4 scenes, got ", opts.scenes);
  fs::create_directories(dir + "/images");
  DatasetList list;
  for (int s = 0; s < opts.scenes; ++s) {
    list.domain_names[s] = kSceneNames[s];
    for (int ref = 0; ref < opts.references_per_scene; ++ref) {
      const ImageF pristine = scene_image(s, ref, opts.width, opts.height, opts.seed * 1000 + uint64_t(s));
      for (size_t t = 0; t < std::size(kTypes); ++t)
        for (int level = 1; level <= kNumDistortionLevels; ++level) {
          const uint64_t id = uint64_t(list.entries.size());
          const ImageF d = apply_distortion(pristine, kTypes[t], level, distortion_seed(opts.seed, id, kTypes[t], level));
          // Latent quality in [0, 1] falls with the level; small per-image jitter keeps ties rare.
          const double latent = 1.0 - kSeverity[t] * (level - 1) / 4.0 + 0.03 * (hash01(opts.seed + id) - 0.5);
          char name[96];
          std::snprintf(name, sizeof name, "images/s%d_r%d_%s_l%d.%s", s, ref, distortion_name(kTypes[t]), level,
                        id % 2 ? "png" : "jpg");
          const std::string path = dir + "/" + name;
          if (id % 2) write_png(path, to_u8(d));
          else write_jpeg(path, to_u8(d), 95);
          DatasetEntry e;
          e.image = name;
          e.score = kScale[s] * latent + kShift[s];
          e.domain_id = s;
          e.scene = kSceneNames[s];
          e.dist_type = distortion_name(kTypes[t]);
          e.reference = "s" + std::to_string(s) + "_r" + std::to_string(ref);
          list.entries.push_back(e);
        }
    }
  }
  return list;
}

SindConfig demo_config(const std::string& project_dir) {
  SindConfig c;
  c.demo = true;
  c.clip_model = "tiny";
  c.local_global = true;
  c.loss_type = "scale_shift";
  c.scene_sampling = 2;
  c.batch_size = 16;
  c.epochs = 4;
  c.warmup_epoch = 1;
  c.lr = 1e-3;  // from-scratch tiny model: the reference's 1e-5 is for fine-tuning pretrained CLIP
  c.weight_decay = 1e-5;
  c.eval_every = 1;
  c.exp_type = "leave-one-out";
  c.project_dir = project_dir;
  c.num_workers = 2;
  c.device = "auto";
  return c;
}

int run_demo(const SindConfig& base) {
  const std::string data_dir = base.project_dir + "/data";
  std::cout << "sind-train --demo: generating a synthetic scene-structured IQA set in " << data_dir << std::endl;
  const DemoSetOptions dopts;
  DatasetList all = make_demo_dataset(data_dir, dopts);
  const int held_out = dopts.scenes - 1;
  DatasetList train, test;
  for (const auto& e : all.entries) (e.domain_id == held_out ? test : train).entries.push_back(e);
  train.domain_names = test.domain_names = all.domain_names;
  write_data_json(data_dir + "/all.json", all);
  std::cout << all.entries.size() << " images, " << dopts.scenes << " scenes; MOS = scene scale x latent + scene shift"
            << "\ntraining on scenes 0.." << held_out - 1 << ", testing on the unseen scene " << held_out << " ("
            << test.entries.size() << " images)\n";

  std::vector<std::pair<std::string, ProtocolSummary>> runs;
  for (const char* loss : {"scale_shift", "l1"}) {
    SindConfig c = base;
    c.data_root = data_dir;
    c.loss_type = loss;
    c.project_dir = base.project_dir + "/" + loss;
    std::cout << "\n== loss " << loss << " ==" << std::endl;
    ProtocolRun run{"", {}};
    run.data.train = train;
    run.data.tests.push_back({"scene" + std::to_string(held_out) + "-" + kSceneNames[held_out], test});
    ProtocolSummary s = run_protocol(c, {run});
    for (const auto& l : s.lines) std::cout << l << "\n";
    if (s.interrupted) return 130;
    runs.emplace_back(loss, std::move(s));
  }
  std::cout << "\nLeave-one-scene-out on the unseen scene, side by side (EMA weights, 9-crop):\n"
            << "  loss          best-epoch SRCC  PLCC    final SRCC  PLCC\n";
  for (const auto& [loss, s] : runs) {
    const SetResult& r = s.results.at(0).second.sets.at(0);
    const EvalPoint b = r.best_on_test(), f = r.last();
    char row[160];
    std::snprintf(row, sizeof row, "  %-12s  %.4f (ep %d)  %.4f    %.4f      %.4f\n", loss.c_str(), b.srcc, b.epoch,
                  b.plcc, f.srcc, f.plcc);
    std::cout << row;
  }
  std::cout << "\nThe demo's runs are in " << base.project_dir << "/{scale_shift,l1} (train.log, metrics.jsonl, "
            << "curves.svg, checkpoints/)." << std::endl;
  return 0;
}

}  // namespace iqa::training
