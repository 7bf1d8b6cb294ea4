// iqa-bench cases for SIND's kernels: the scale-shift loss, the LocalGlobal fusion head and the view
// renderers. bench/torch_peer_iqa.py times the reference's PyTorch computations at the same shapes.
//
// The loss and head cases come from the op table. The view cases time only the render kernel, called
// directly because no op renders from sources already on the device: the sources are decoded and
// uploaded once when the case is built (the loader uploads them once per batch, outside this kernel).
#include <string>
#include <vector>

#include "bench/bench_ops.h"
#include "engine/cuda_runtime.h"
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
  Tensor all_pixels = mul(Tensor::rand({int64_t(B) * H * W * 3}), 255.0).to(DType::U8);
  std::vector<kernels::ViewGather> views;
  for (int i = 0; i < B; ++i) {
    const uint64_t key = sample_key(5, 0, uint64_t(i));
    views.push_back(mosaic ? mosaic_view_gather(draw_mosaic_plan(key, W, H), W, H, i)
                           : global_view_gather(draw_global_view_plan(key), i));
  }
  std::vector<int32_t> widths(size_t(B), W), heights(size_t(B), H);
  const std::vector<int32_t> table = kernels::build_view_tap_table(views, widths.data(), heights.data(), B, 224, 224);
  Tensor out = Tensor::empty({B, 3, 224, 224}, dtype, device);
  BenchCase c;
  c.shape = std::to_string(B) + "x1024x768";
  c.bytes = double(out.nbytes());  // bytes written; the sources are read through the cache
  if (device.is_cpu()) {
    std::vector<const uint8_t*> pointers;
    for (int i = 0; i < B; ++i) pointers.push_back(all_pixels.data<uint8_t>() + size_t(i) * H * W * 3);
    c.run = [=] {
      kernels::ViewBatch batch{pointers.data(), table.data(), B, 224, 224};
      kernels::cpu::render_views(batch, dtype, kernels::ViewNormalization{}, out.raw_data());
      (void)all_pixels;  // keeps the sources `pointers` points into alive
    };
    return c;
  }
#ifdef IQA_WITH_CUDA
  Tensor pixels = all_pixels.to(device);
  std::vector<int64_t> addresses;
  for (int i = 0; i < B; ++i)
    addresses.push_back(int64_t(reinterpret_cast<uintptr_t>(pixels.data<uint8_t>() + size_t(i) * H * W * 3)));
  Tensor pointer_array = Tensor::from_vector_i64(addresses, {B}, DType::I64, device);
  Tensor table_dev = Tensor::empty({int64_t(table.size())}, DType::I32, device);
  cuda::copy_h2d(table_dev.raw_data(), table.data(), table.size() * sizeof(int32_t));
  c.run = [=] {
    kernels::ViewBatch batch{reinterpret_cast<const uint8_t* const*>(pointer_array.raw_data()),
                             table_dev.data<int32_t>(), B, 224, 224};
    kernels::cuda::render_views(batch, dtype, kernels::ViewNormalization{}, out.raw_data(), cuda::current_stream());
    (void)pixels;  // keeps the sources alive
  };
#endif
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
