// iqa-bench cases for SIND's kernels: the scale-shift loss, the LocalGlobal fusion head and the view
// renderers. bench/torch_peer_iqa.py times the reference's PyTorch computations at the same shapes.
//
// The loss and head cases come from the op table. The view cases time only the render
// (render_prepared_views, training/image/view_batch.h): the sources are placed on the device once when
// the case is built (the loader uploads them once per batch, outside this kernel).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/views.h"
#include "training/image/augment_plan.h"
#include "training/image/view_batch.h"

namespace iqa::bench {
namespace {

// B random 1024x768 RGB images, one view each: the training global view (256, flip) or the mosaic.
BenchCase views_case(Device device, DType dtype, bool small, bool mosaic) {
  const int B = small ? 4 : 64, W = 1024, H = 768;
  manual_seed(5);
  const Tensor all_pixels = mul(Tensor::rand({int64_t(B) * H * W * 3}), 255.0).to(DType::U8);
  auto images = std::make_shared<std::vector<ImageU8>>();
  images->reserve(size_t(B));
  std::vector<const ImageU8*> sources;
  std::vector<kernels::ViewGather> views;
  for (int i = 0; i < B; ++i) {
    ImageU8& img = images->emplace_back(W, H, 3);
    std::copy_n(all_pixels.data<uint8_t>() + size_t(i) * H * W * 3, img.pixels.size(), img.pixels.begin());
    const uint64_t key = sample_key(5, 0, uint64_t(i));
    views.push_back(mosaic ? mosaic_view_gather(draw_mosaic_plan(key, W, H), W, H, i)
                           : global_view_gather(draw_global_view_plan(key), i));
  }
  for (const ImageU8& img : *images) sources.push_back(&img);
  // The render alone: the tap table and the sources are placed on the device once, here.
  const PreparedViewBatch prepared = prepare_view_batch(sources, views, device);
  Tensor out = Tensor::empty({B, 3, 224, 224}, dtype, device);
  BenchCase c;
  c.shape = std::to_string(B) + "x1024x768";
  c.bytes = double(out.nbytes());  // bytes written; the sources are read through the cache
  c.run = [images, prepared, out]() mutable { render_prepared_views(prepared, out); };  // images: the CPU sources
  return c;
}

// The scene losses and the head are op-table rows (tests/op_table/rows_index_loss.cpp): their public
// ops forward and backward under autograd.
const BenchRegistrar scale_shift_reg("scale_shift_loss", op_table_bench("scale_shift_loss"));
const BenchRegistrar scale_shift_128_reg("scale_shift_loss_128x4", op_table_bench("scale_shift_loss_128x4"));
const BenchRegistrar scene_l1_reg("scene_l1_loss", op_table_bench("scene_l1_loss"));
const BenchRegistrar fusion_head_reg("fusion_head", op_table_bench("fusion_head"));
const BenchRegistrar views_global_reg("views_global",
                                      [](Device d, DType t, bool small) { return views_case(d, t, small, false); });
const BenchRegistrar views_mosaic_reg("views_mosaic",
                                      [](Device d, DType t, bool small) { return views_case(d, t, small, true); });

}  // namespace
}  // namespace iqa::bench
