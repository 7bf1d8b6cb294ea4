// The 25 distortion bodies, one function each, grouped by the file that implements them. All share
// one signature: (image in [0,1], the level's parameter from the spec's table, the seeded stream) so
// training/distort/distort.cpp can dispatch through a table. Inputs are 3-channel (checked by the caller).
#pragma once
#include "training/distort/primitives.h"

namespace iqa::distort {

using DistortionFn = ImageF (*)(const ImageF& img, double param, Rng& rng);

// distort_blur.cpp
ImageF gaussian_blur(const ImageF& img, double sigma, Rng& rng);
ImageF lens_blur(const ImageF& img, double radius, Rng& rng);
ImageF motion_blur(const ImageF& img, double length, Rng& rng);
// distort_color.cpp
ImageF color_diffusion(const ImageF& img, double amount, Rng& rng);
ImageF color_shift(const ImageF& img, double amount, Rng& rng);
ImageF color_saturation_hsv(const ImageF& img, double factor, Rng& rng);
ImageF color_saturation_lab(const ImageF& img, double factor, Rng& rng);
// distort_color_quantize.cpp
ImageF color_quantization(const ImageF& img, double colors, Rng& rng);
// distort_compression.cpp
ImageF jpeg2000_compression(const ImageF& img, double ratio, Rng& rng);
ImageF jpeg_compression(const ImageF& img, double quality, Rng& rng);
// distort_noise.cpp
ImageF white_noise(const ImageF& img, double variance, Rng& rng);
ImageF white_noise_color_component(const ImageF& img, double variance, Rng& rng);
ImageF impulse_noise(const ImageF& img, double density, Rng& rng);
ImageF multiplicative_noise(const ImageF& img, double variance, Rng& rng);
// distort_denoise.cpp
ImageF denoise(const ImageF& img, double variance, Rng& rng);
// distort_brightness.cpp
ImageF brighten(const ImageF& img, double amount, Rng& rng);
ImageF darken(const ImageF& img, double amount, Rng& rng);
ImageF mean_shift(const ImageF& img, double shift, Rng& rng);
// distort_spatial.cpp
ImageF jitter(const ImageF& img, double amount, Rng& rng);
ImageF non_eccentricity_patch(const ImageF& img, double patches, Rng& rng);
ImageF pixelate(const ImageF& img, double strength, Rng& rng);
ImageF color_block(const ImageF& img, double blocks, Rng& rng);
// distort_quantize.cpp
ImageF quantization(const ImageF& img, double thresholds, Rng& rng);
// distort_sharpness.cpp
ImageF high_sharpen(const ImageF& img, double amount, Rng& rng);
ImageF contrast_change(const ImageF& img, double amount, Rng& rng);

// Adds sqrt(variance) * N(0,1) to every value and clips to [0,1] (imnoise 'gaussian', 0, v).
void add_gaussian_noise_clipped(ImageF& img, double variance, Rng& rng);

}  // namespace iqa::distort
