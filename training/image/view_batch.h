// Batched execution of view plans with the kernels of kernels/views.h: the plans of
// training/image/augment_plan.h become gathers, and one call renders a whole batch of views into an NCHW
// tensor on the CPU (reference) or the GPU (only the kept pixels are resampled, on the device).
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "kernels/views.h"
#include "training/image/augment_plan.h"

namespace iqa {

// The gather that render_global_view / render_mosaic_view compute, for source image `image` of a batch.
kernels::ViewGather global_view_gather(const GlobalViewPlan& plan, int image);
kernels::ViewGather mosaic_view_gather(const MosaicPlan& plan, int source_width, int source_height, int image);

// The 18 test-time views of one image (sind.md §5.1): global NineCrop 0..8, then local
// NineCropMiniPatch 0..8; global view i is paired with local view i (the two orders differ on purpose).
std::vector<kernels::ViewGather> nine_crop_test_views(int image, int source_width, int source_height,
                                                      int global_resize = 256, int short_side = 672);

// Renders views (all crop x crop, RGB sources) into [views.size(), 3, crop, crop] of dtype: U8 for the
// raw resampled bytes, or F32/BF16/F16 normalised with ImageNet mean/std. On CUDA the sources and the
// tap table are uploaded, then one kernel renders every view.
Tensor render_view_batch(const std::vector<const ImageU8*>& images, const std::vector<kernels::ViewGather>& views,
                         DType dtype, Device device);

// render_view_batch in two halves, for callers that render the same batch many times (iqa-bench): the
// tap table and the sources where the kernel reads them (on CUDA uploaded here; on the CPU the images'
// own pixels, which must outlive it), then one render into a [num_views, 3, out_h, out_w] tensor of the
// batch's device, in out's dtype.
struct PreparedViewBatch {
  Device device;
  int64_t num_views = 0;
  int out_h = 0, out_w = 0;
  std::vector<int32_t> table;
  std::vector<const uint8_t*> pointers;            // CPU
  Tensor device_pixels, device_addresses, device_table;  // CUDA
};
PreparedViewBatch prepare_view_batch(const std::vector<const ImageU8*>& images,
                                     const std::vector<kernels::ViewGather>& views, Device device);
void render_prepared_views(const PreparedViewBatch& batch, Tensor& out);

}  // namespace iqa
