// CPU execution of augmentation plans. Both views are one gather from an antialiased resize of the
// (possibly flipped) source: only the output pixels the view keeps are computed, and the pixels equal
// those of resizing the whole image and then cropping (tested against that literal path).
#include "training/image/augment_plan.h"

namespace iqa {

ImageU8 render_global_view(const ImageU8& source, const GlobalViewPlan& plan) {
  IQA_CHECK(plan.crop > 0 && plan.crop_x >= 0 && plan.crop_y >= 0 && plan.crop_x + plan.crop <= plan.resize &&
                plan.crop_y + plan.crop <= plan.resize,
            "render_global_view: crop ", plan.crop, " at (", plan.crop_x, ", ", plan.crop_y, ") outside the ",
            plan.resize, "x", plan.resize, " resized image");
  std::vector<int> rows(size_t(plan.crop)), cols(size_t(plan.crop));
  for (int i = 0; i < plan.crop; ++i) rows[size_t(i)] = plan.crop_y + i, cols[size_t(i)] = plan.crop_x + i;
  return resize_bilinear_antialias_gather(source, plan.resize, plan.resize, rows, cols, plan.flip);
}

ImageU8 render_mosaic_view(const ImageU8& source, const MosaicPlan& plan) {
  const Size2 resized = short_side_resize_size(source.width, source.height, plan.short_side);
  IQA_CHECK(resized.width == plan.resized_width && resized.height == plan.resized_height,
            "render_mosaic_view: plan drawn for a ", plan.resized_width, "x", plan.resized_height,
            " resize, but this ", source.width, "x", source.height, " source resizes to ", resized.width, "x",
            resized.height);
  const Size2 cell = mosaic_cell_size(resized.width, resized.height);
  return resize_bilinear_antialias_gather(source, resized.width, resized.height,
                                          mosaic_source_indices(cell.height, plan.row_offsets),
                                          mosaic_source_indices(cell.width, plan.col_offsets), plan.flip);
}

}  // namespace iqa
