// Plans -> gathers -> one render call (see view_batch.h).
#include "training/image/view_batch.h"

#include "engine/cuda_runtime.h"
#include "engine/dispatch.h"

namespace iqa {

kernels::ViewGather global_view_gather(const GlobalViewPlan& plan, int image) {
  IQA_CHECK(plan.crop > 0 && plan.crop_x >= 0 && plan.crop_y >= 0 && plan.crop_x + plan.crop <= plan.resize &&
                plan.crop_y + plan.crop <= plan.resize,
            "global_view_gather: crop ", plan.crop, " at (", plan.crop_x, ", ", plan.crop_y, ") outside the ",
            plan.resize, "x", plan.resize, " resized image");
  kernels::ViewGather g;
  g.image = image;
  g.resize_width = g.resize_height = plan.resize;
  for (int i = 0; i < plan.crop; ++i) g.rows.push_back(plan.crop_y + i), g.cols.push_back(plan.crop_x + i);
  g.flip = plan.flip;
  return g;
}

kernels::ViewGather mosaic_view_gather(const MosaicPlan& plan, int source_width, int source_height, int image) {
  const Size2 resized = short_side_resize_size(source_width, source_height, plan.short_side);
  IQA_CHECK(resized.width == plan.resized_width && resized.height == plan.resized_height,
            "mosaic_view_gather: plan drawn for a ", plan.resized_width, "x", plan.resized_height, " resize, but a ",
            source_width, "x", source_height, " source resizes to ", resized.width, "x", resized.height);
  const Size2 cell = mosaic_cell_size(resized.width, resized.height);
  kernels::ViewGather g;
  g.image = image;
  g.resize_width = resized.width;
  g.resize_height = resized.height;
  g.rows = mosaic_source_indices(cell.height, plan.row_offsets);
  g.cols = mosaic_source_indices(cell.width, plan.col_offsets);
  g.flip = plan.flip;
  return g;
}

std::vector<kernels::ViewGather> nine_crop_test_views(int image, int source_width, int source_height,
                                                      int global_resize, int short_side) {
  std::vector<kernels::ViewGather> views;
  for (const GlobalViewPlan& p : nine_crop_global_plans(global_resize, kMosaicSize))
    views.push_back(global_view_gather(p, image));
  for (const MosaicPlan& p : nine_crop_mosaic_plans(source_width, source_height, short_side))
    views.push_back(mosaic_view_gather(p, source_width, source_height, image));
  return views;
}

PreparedViewBatch prepare_view_batch(const std::vector<const ImageU8*>& images,
                                     const std::vector<kernels::ViewGather>& views, Device device) {
  IQA_CHECK(!views.empty(), "render_view_batch: no views");
  PreparedViewBatch p;
  p.device = device;
  p.num_views = int(views.size());
  p.out_h = int(views[0].rows.size());
  p.out_w = int(views[0].cols.size());
  std::vector<int32_t> widths, heights;
  for (size_t i = 0; i < images.size(); ++i) {
    IQA_CHECK(images[i] != nullptr && images[i]->channels == 3 && !images[i]->empty(), "render_view_batch: image ", i,
              " must be a non-empty RGB image");
    widths.push_back(images[i]->width);
    heights.push_back(images[i]->height);
  }
  p.table = kernels::build_view_tap_table(views, widths.data(), heights.data(), int(images.size()), p.out_h, p.out_w);
  if (device.is_cpu()) {
    for (const ImageU8* img : images) p.pointers.push_back(img->pixels.data());
    return p;
  }
#ifdef IQA_WITH_CUDA
  // One device buffer for all sources (each start 16-byte aligned), a device array of their addresses,
  // and the tap table.
  std::vector<size_t> starts;
  size_t total = 0;
  for (const ImageU8* img : images) {
    starts.push_back(total);
    total += (img->pixels.size() + 15) / 16 * 16;
  }
  p.device_pixels = Tensor::empty({int64_t(total)}, DType::U8, device);
  std::vector<int64_t> addresses;
  for (size_t i = 0; i < images.size(); ++i) {
    uint8_t* dst = p.device_pixels.data<uint8_t>() + starts[i];
    cuda::copy_h2d(dst, images[i]->pixels.data(), images[i]->pixels.size());
    addresses.push_back(int64_t(reinterpret_cast<uintptr_t>(dst)));
  }
  p.device_addresses = Tensor::from_vector_i64(addresses, {int64_t(addresses.size())}, DType::I64, device);
  p.device_table = Tensor::empty({int64_t(p.table.size())}, DType::I32, device);
  cuda::copy_h2d(p.device_table.raw_data(), p.table.data(), p.table.size() * sizeof(int32_t));
  return p;
#else
  fail("render_view_batch: CUDA tensor in a build without CUDA");
#endif
}

void render_prepared_views(const PreparedViewBatch& p, Tensor& out) {
  const Shape want{p.num_views, 3, p.out_h, p.out_w};
  IQA_CHECK(out.device() == p.device && out.is_contiguous() && out.shape() == want,
            "render_prepared_views: out must be a contiguous [", p.num_views, ", 3, ", p.out_h, ", ", p.out_w,
            "] tensor on the batch's device, got ", out.str());
  kernels::ViewBatch batch;
  batch.num_views = p.num_views;
  batch.out_height = p.out_h;
  batch.out_width = p.out_w;
  if (p.device.is_cpu()) {
    batch.images = p.pointers.data();
    batch.table = p.table.data();
    kernels::cpu::render_views(batch, out.dtype(), kernels::ViewNormalization{}, out.raw_data());
    return;
  }
  batch.images = reinterpret_cast<const uint8_t* const*>(p.device_addresses.raw_data());
  batch.table = p.device_table.data<int32_t>();
  IQA_ON_CUDA(kernels::cuda::render_views(batch, out.dtype(), kernels::ViewNormalization{}, out.raw_data(),
                                          cuda::current_stream()));
}

Tensor render_view_batch(const std::vector<const ImageU8*>& images, const std::vector<kernels::ViewGather>& views,
                         DType dtype, Device device) {
  // The uploads are released when this returns; the caching allocator keeps them stream-ordered.
  const PreparedViewBatch p = prepare_view_batch(images, views, device);
  Tensor out = Tensor::empty({p.num_views, 3, p.out_h, p.out_w}, dtype, device);
  render_prepared_views(p, out);
  return out;
}

}  // namespace iqa
