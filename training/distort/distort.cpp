// The distortion table (names, level parameters from shared/spec/dsmix.md §4, bodies), dispatch and
// the KADIS min-max wrapper.
#include "training/distort/distort.h"

#include <cstring>

#include "training/distort/families.h"

namespace iqa {

namespace {

struct DistortionInfo {
  const char* name;
  double levels[kNumDistortionLevels];  // level 1 .. level 5, in imdist_generator order
  bool random;
  distort::DistortionFn fn;
};

using namespace distort;
// Index = type - 1.
const DistortionInfo kTable[kNumDistortionTypes] = {
    {"gaussian_blur", {0.1, 0.5, 1, 2, 5}, false, gaussian_blur},
    {"lens_blur", {1, 2, 4, 6, 8}, false, lens_blur},
    {"motion_blur", {1, 2, 4, 6, 10}, true, motion_blur},
    {"color_diffusion", {1, 3, 6, 8, 12}, false, color_diffusion},
    {"color_shift", {1, 3, 6, 8, 12}, true, color_shift},
    {"color_quantization", {64, 48, 32, 16, 8}, false, color_quantization},
    {"color_saturation_hsv", {0.4, 0.2, 0.1, 0, -0.4}, false, color_saturation_hsv},
    {"color_saturation_lab", {1, 2, 3, 6, 9}, false, color_saturation_lab},
    {"jpeg2000", {16, 32, 45, 120, 400}, false, jpeg2000_compression},
    {"jpeg", {43, 36, 24, 7, 4}, false, jpeg_compression},
    {"white_noise", {0.001, 0.002, 0.003, 0.005, 0.01}, true, white_noise},
    {"white_noise_color_component", {1e-4, 5e-4, 1e-3, 2e-3, 3e-3}, true, white_noise_color_component},
    {"impulse_noise", {0.001, 0.005, 0.01, 0.02, 0.03}, true, impulse_noise},
    {"multiplicative_noise", {0.001, 0.005, 0.01, 0.02, 0.05}, true, multiplicative_noise},
    {"denoise", {0.01, 0.03, 0.05, 0.1, 0.15}, true, denoise},
    {"brighten", {0.1, 0.2, 0.4, 0.7, 1.1}, false, brighten},
    {"darken", {0.05, 0.1, 0.2, 0.4, 0.8}, false, darken},
    {"mean_shift", {0.15, 0.08, 0, -0.08, -0.15}, false, mean_shift},
    {"jitter", {0.05, 0.1, 0.2, 0.5, 1}, true, jitter},
    {"non_eccentricity_patch", {20, 40, 60, 80, 100}, true, non_eccentricity_patch},
    {"pixelate", {0.01, 0.05, 0.1, 0.2, 0.5}, false, pixelate},
    {"quantization", {20, 16, 13, 10, 7}, false, quantization},
    {"color_block", {2, 4, 6, 8, 10}, true, color_block},
    {"high_sharpen", {1, 2, 3, 6, 12}, false, high_sharpen},
    {"contrast_change", {0.3, 0.15, 0, -0.4, -0.6}, false, contrast_change},
};

const DistortionInfo& info(int type) {
  IQA_CHECK(type >= 1 && type <= kNumDistortionTypes, "distortion type ", type, " is outside 1..",
            kNumDistortionTypes);
  return kTable[type - 1];
}

void check_level(int type, int level) {
  IQA_CHECK(level >= 1 && level <= kNumDistortionLevels, "distortion ", info(type).name, ": level ", level,
            " is outside 1..", kNumDistortionLevels);
}

// SplitMix64 finaliser: a bijective 64-bit mix, so distinct inputs give unrelated-looking keys.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

const char* distortion_name(int type) { return info(type).name; }

int distortion_from_name(const char* name) {
  for (int t = 1; t <= kNumDistortionTypes; ++t)
    if (std::strcmp(kTable[t - 1].name, name) == 0) return t;
  return 0;
}

double distortion_parameter(int type, int level) {
  check_level(type, level);
  return info(type).levels[level - 1];
}

bool distortion_is_random(int type) { return info(type).random; }

namespace {
// The body as MATLAB computes it. A few bodies (bicubic jitter) can overshoot [0,1] slightly; the
// KADIS wrapper's final mapmm sees those values unclipped, as in the original.
ImageF run_distortion(const ImageF& image, int type, int level, uint64_t seed) {
  const DistortionInfo& d = info(type);
  check_level(type, level);
  IQA_CHECK(image.channels == 3, "distortion ", d.name, ": needs an RGB image, got ", image.channels,
            " channels");
  IQA_CHECK(image.width > 0 && image.height > 0 && image.pixels.size() == size_t(image.width) * image.height * 3,
            "distortion ", d.name, ": image ", image.width, "x", image.height, " holds ", image.pixels.size(),
            " values");
  distort::Rng rng(seed);
  ImageF out = d.fn(image, d.levels[level - 1], rng);
  IQA_CHECK(out.width == image.width && out.height == image.height && out.channels == 3,
            "distortion ", d.name, " changed the image size");
  return out;
}
}  // namespace

ImageF apply_distortion(const ImageF& image, int type, int level, uint64_t seed) {
  ImageF out = run_distortion(image, type, level, seed);
  distort::clamp_inplace(out);
  return out;
}

ImageF kadis_distort(const ImageF& image, int type, int level, uint64_t seed) {
  ImageF in = image;
  distort::mapmm_inplace(in);
  ImageF out = run_distortion(in, type, level, seed);
  distort::mapmm_inplace(out);
  return out;
}

uint64_t distortion_seed(uint64_t run_seed, uint64_t image_index, int type, int level) {
  uint64_t z = mix64(run_seed + 0x9E3779B97F4A7C15ull);
  z = mix64(z ^ (image_index + 0x632BE59BD9B4E019ull));
  return mix64(z ^ (uint64_t(type) << 8 | uint64_t(level)));
}

}  // namespace iqa
