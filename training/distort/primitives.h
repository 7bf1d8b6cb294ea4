// Helper primitives of the KADIS generator (shared/spec/dsmix.md §3): the MATLAB Image Processing
// Toolbox behaviour the 25 distortions are written against, on float HWC images in [0,1].
// A "plane" is an ImageF with channels == 1.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/philox.h"
#include "training/image/image.h"

namespace iqa::distort {

// Philox stream keyed by the distortion seed. Scalar draws take one counter each; per-pixel fields
// reserve a block of counters up front so they can be filled in parallel (element i uses base + i).
class Rng {
 public:
  explicit Rng(uint64_t seed) : seed_(seed) {}
  float uniform() { return philox::uniform(seed_, counter_++); }
  float normal() { return philox::normal(seed_, counter_++); }
  uint64_t reserve(uint64_t n) {
    uint64_t base = counter_;
    counter_ += n;
    return base;
  }
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

// ---- value range ------------------------------------------------------------------------------
// (x - min) / (max - min) over all channels jointly; unchanged when the image is constant.
void mapmm_inplace(ImageF& img);
// Clamp every value to [lo, hi] (MATLAB `truncate`).
void clamp_inplace(ImageF& img, float lo = 0.0f, float hi = 1.0f);
// MATLAB prctile (p in [0,100]): linear interpolation between order statistics at (i-0.5)/n.
float percentile(std::vector<float> values, double p);

// ---- planes -----------------------------------------------------------------------------------
ImageF extract_channel(const ImageF& img, int channel);
void insert_channel(ImageF& img, int channel, const ImageF& plane);

// ---- filtering (MATLAB imfilter with 'replicate' padding: correlation, output the input's size) --
struct Kernel2D {
  int rows = 0, cols = 0;       // odd sizes; the centre is (rows/2, cols/2)
  std::vector<double> weights;  // rows * cols, row-major
  double at(int r, int c) const { return weights[size_t(r) * cols + c]; }
};

// Normalised 1-D Gaussian of length 2*ceil(2*sigma)+1 (imgaussfilt's default size).
std::vector<float> gaussian_kernel(double sigma);
// Separable correlation of every channel: kx along rows, ky along columns, replicate padding.
ImageF filter_separable(const ImageF& img, const std::vector<float>& kx, const std::vector<float>& ky);
// imgaussfilt(I, sigma).
ImageF gaussian_filter(const ImageF& img, double sigma);
// imfilter(I, k, 'replicate') for a dense 2-D kernel (zero taps are skipped).
ImageF filter2d(const ImageF& img, const Kernel2D& kernel);
// fspecial('disk', radius): anti-aliased disk, (2*ceil(r-0.5)+1)^2, normalised.
Kernel2D disk_kernel(double radius);
// fspecial('motion', len, angle_deg): anti-aliased line, counter-clockwise angle, normalised.
Kernel2D motion_kernel(double length, double angle_deg);

// ---- colour spaces (3-channel images; conversions are per pixel) ---------------------------------
// sRGB (D65) <-> CIE L*a*b* with L in [0,100]; lab_to_rgb does not clamp (callers truncate).
ImageF rgb_to_lab(const ImageF& rgb);
ImageF lab_to_rgb(const ImageF& lab);
// 0.2989 R + 0.5870 G + 0.1140 B, as a plane.
ImageF rgb_to_gray(const ImageF& rgb);
// BT.601 studio range on [0,1] doubles (MATLAB rgb2ycbcr); ycbcr_to_rgb clamps to [0,1] like MATLAB.
ImageF rgb_to_ycbcr(const ImageF& rgb);
ImageF ycbcr_to_rgb(const ImageF& ycc);
// MATLAB rgb2hsv / hsv2rgb, all three in [0,1]. hsv_to_rgb computes v*(1 - s*(1 - hue_rgb)), which
// also gives the colour-inverting result MATLAB gives for s < 0; it does not clamp.
ImageF rgb_to_hsv(const ImageF& rgb);
ImageF hsv_to_rgb(const ImageF& hsv);

// ---- tone curves -------------------------------------------------------------------------------
// MATLAB `spline` with not-a-knot ends (3 points: the interpolating parabola). Extrapolates with the
// end pieces.
class NotAKnotSpline {
 public:
  NotAKnotSpline(std::vector<double> xs, std::vector<double> ys);
  double operator()(double x) const;

 private:
  std::vector<double> xs_;
  std::vector<double> coef_;  // 4 per piece: value at x_i, then 1st, 2nd, 3rd order coefficients
};
// curves(x, c): spline through (0,0), (0.5,c), (1,1).
NotAKnotSpline curve_midpoint(double c);
// curves(x, [c1 c2]): spline through (0,0), (0.3,c1), (0.5,0.5), (0.7,c2), (1,1).
NotAKnotSpline curve_two_point(double c1, double c2);
// Every value (or only `channel` when >= 0) through the curve, clamped to [0,1].
void apply_curve(ImageF& img, const NotAKnotSpline& curve, int channel = -1);

// ---- geometry ----------------------------------------------------------------------------------
// imwarpmap(I, shifts, 'bicubic', pad): out(y,x) = I(y - sy(y,x), x - sx(y,x)) with cubic convolution
// (a = -0.5) and edge replication outside the image. sy, sx have height*width entries.
ImageF warp_bicubic(const ImageF& img, const std::vector<float>& sy, const std::vector<float>& sx);
// imresize(I, ..., 'nearest') to out_w x out_h where scale_x/scale_y are the scales MATLAB maps with
// (out/in when a size is given, the requested factor when a scale is given).
ImageF resize_nearest(const ImageF& img, int out_w, int out_h, double scale_x, double scale_y);

}  // namespace iqa::distort
