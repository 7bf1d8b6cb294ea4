// The 25 KADID-10k / KADIS-700k distortions at 5 levels each (shared/spec/dsmix.md §3-4).
//
// Images are ImageF, RGB, HWC, values nominally in [0,1] like MATLAB doubles. Every distortion is a
// pure function of (image, type, level, seed): the random ones (motion angle, colour-shift direction,
// noise, jitter, patch and block positions) draw from Philox with the seed as key, so the same seed
// always yields the same pixels, on any number of threads.
#pragma once
#include <cstdint>

#include "training/image/image.h"

namespace iqa {

// KADID order; the numeric value is the KADID/KADIS type id (1..25).
enum class Distortion : int {
  GaussianBlur = 1,
  LensBlur = 2,
  MotionBlur = 3,
  ColorDiffusion = 4,
  ColorShift = 5,
  ColorQuantization = 6,
  ColorSaturationHsv = 7,
  ColorSaturationLab = 8,
  Jpeg2000 = 9,
  Jpeg = 10,
  WhiteNoise = 11,
  WhiteNoiseColorComponent = 12,
  ImpulseNoise = 13,
  MultiplicativeNoise = 14,
  Denoise = 15,
  Brighten = 16,
  Darken = 17,
  MeanShift = 18,
  Jitter = 19,
  NonEccentricityPatch = 20,
  Pixelate = 21,
  Quantization = 22,
  ColorBlock = 23,
  HighSharpen = 24,
  ContrastChange = 25,
};

inline constexpr int kNumDistortionTypes = 25;
inline constexpr int kNumDistortionLevels = 5;

// snake_case name of a type ("gaussian_blur"); throws for a type outside 1..25.
const char* distortion_name(int type);
// The type with that name, or 0 when none matches.
int distortion_from_name(const char* name);
// The level's parameter as the spec's table lists it (sigma, radius, quality, variance, ...).
double distortion_parameter(int type, int level);
// True when the result depends on the seed.
bool distortion_is_random(int type);

// One distortion, without the min-max wrapper, clipped to [0,1]. Needs a 3-channel image; the output
// has the input's size. Throws iqa::Error for a bad type, level or image.
ImageF apply_distortion(const ImageF& image, int type, int level, uint64_t seed);

// The KADIS generator `imdist_generator`: mapmm(input) -> distortion -> mapmm(output), so the result
// spans [0,1] (unless it is constant). This is what KADIS-700k and KADID-10k images are made of. The
// distortion's output is min-maxed as computed, not clipped first (bicubic jitter can overshoot).
ImageF kadis_distort(const ImageF& image, int type, int level, uint64_t seed);

// A per-(image, type, level) seed derived from a run seed, so every distorted image of a generated set
// gets its own independent random stream and any subset can be regenerated alone.
uint64_t distortion_seed(uint64_t run_seed, uint64_t image_index, int type, int level);

}  // namespace iqa
