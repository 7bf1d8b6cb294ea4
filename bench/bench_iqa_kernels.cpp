// iqa-bench cases for SIND's kernels: the scale-shift loss, the LocalGlobal fusion head and the view
// renderers. bench/torch_peer_iqa.py times the reference's PyTorch computations at the same shapes.
//
// iqa-bench runs under NoGradGuard, so the forward+backward cases call the kernels directly (what the
// autograd ops launch: the loss's single launch that also yields the gradient, the head's forward and
// backward kernels). The view cases time only the render kernel: the sources are decoded and uploaded
// once when the case is built (the loader uploads them once per batch, outside this kernel).
#include <string>
#include <vector>

#include "bench/bench_ops.h"
#include "engine/cuda_runtime.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/fusion_head.h"
#include "kernels/scale_shift_loss.h"
#include "kernels/views.h"
#include "training/image/augment_plan.h"
#include "training/image/view_batch.h"

namespace iqa::bench {
namespace {

// Forward + backward of a scene loss for B predictions in `scenes` equal scene chunks (the issue's
// target shape is 64 predictions in 2 scenes: SIND's batch 64 with --scene_sampling 2).
BenchCase scene_loss_case(Device device, DType dtype, int64_t B, int64_t scenes, kernels::SceneLossNorm norm) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < B; ++i) ids.push_back(i / (B / scenes));
  Tensor pred = Tensor::randn({B}, dtype, device), mos = Tensor::rand({B}, dtype, device);
  Tensor scene = Tensor::from_vector_i64(ids, {B}, DType::I64, device);
  Tensor loss = Tensor::empty({}, dtype, device);
  Tensor grad_pred = Tensor::empty({B}, dtype, device);
  BenchCase c;
  c.shape = std::to_string(B) + "x" + std::to_string(scenes) + "scenes";
  c.bytes = double(B) * (3.0 * double(dtype_size(dtype)) + 8.0);
  if (device.is_cpu()) {
    c.run = [=] {
      kernels::cpu::scale_shift_loss(dtype, pred.raw_data(), mos.raw_data(), scene.data<int64_t>(), B, 1e-8,
                                     loss.raw_data(), grad_pred.raw_data(), nullptr, norm);
    };
    return c;
  }
#ifdef IQA_WITH_CUDA
  Tensor workspace =
      Tensor::empty({int64_t(kernels::cuda::scale_shift_loss_workspace_bytes(B))}, DType::U8, device);
  c.run = [=] {
    kernels::cuda::scale_shift_loss(dtype, pred.raw_data(), mos.raw_data(), scene.data<int64_t>(), B, 1e-8,
                                    loss.raw_data(), grad_pred.raw_data(), nullptr, workspace.raw_data(),
                                    cuda::current_stream(), norm);
  };
#endif
  return c;
}

// Forward + backward of the head at SIND's shapes: B x 512 CLS, B x 196 x 768 tokens.
BenchCase fusion_head_case(Device device, DType dtype, bool small) {
  const kernels::FusionHeadShape s{small ? 16 : 256, 512, 196, 768};
  Tensor g = Tensor::randn({s.batch, s.global}, dtype, device);
  Tensor tokens = Tensor::randn({s.batch, s.tokens, s.width}, dtype, device);
  Tensor w = Tensor::randn({1, s.global + s.width}, dtype, device), b = Tensor::randn({1}, dtype, device);
  Tensor out = Tensor::empty({s.batch, 1}, dtype, device), dq = Tensor::randn({s.batch, 1}, dtype, device);
  Tensor mean = Tensor::empty({s.batch, s.width}, device.is_cpu() ? dtype : DType::F32, device);
  Tensor dg = Tensor::empty(g.shape(), dtype, device), dtokens = Tensor::empty(tokens.shape(), dtype, device);
  Tensor dw = Tensor::empty(w.shape(), dtype, device), db = Tensor::empty({1}, dtype, device);
  BenchCase c;
  c.shape = std::to_string(s.batch) + "x196x768+512";
  // The token slab is read once (forward) and written once (backward); the rest is small.
  c.bytes = 2.0 * double(tokens.nbytes()) + 2.0 * double(g.nbytes());
  if (device.is_cpu()) {
    c.run = [=] {
      kernels::cpu::fusion_head_forward(dtype, s, g.raw_data(), tokens.raw_data(), w.raw_data(), b.raw_data(),
                                        out.raw_data(), mean.raw_data());
      kernels::cpu::fusion_head_backward(dtype, s, dq.raw_data(), g.raw_data(), mean.raw_data(), w.raw_data(),
                                         dg.raw_data(), dtokens.raw_data(), dw.raw_data(), db.raw_data());
    };
    return c;
  }
#ifdef IQA_WITH_CUDA
  c.run = [=] {
    kernels::cuda::fusion_head_forward(dtype, s, g.raw_data(), tokens.raw_data(), w.raw_data(), b.raw_data(),
                                       out.raw_data(), mean.data<float>(), cuda::current_stream());
    kernels::cuda::fusion_head_backward(dtype, s, dq.raw_data(), g.raw_data(), mean.data<float>(), w.raw_data(),
                                        dg.raw_data(), dtokens.raw_data(), dw.raw_data(), db.raw_data(),
                                        cuda::current_stream());
  };
#endif
  return c;
}

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

const BenchRegistrar scale_shift_reg("scale_shift_loss", [](Device d, DType t, bool) {
  return scene_loss_case(d, t, 64, 2, kernels::SceneLossNorm::RobustScaleShift);
});
const BenchRegistrar scale_shift_128_reg("scale_shift_loss_128x4", [](Device d, DType t, bool) {
  return scene_loss_case(d, t, 128, 4, kernels::SceneLossNorm::RobustScaleShift);
});
const BenchRegistrar scene_l1_reg("scene_l1_loss", [](Device d, DType t, bool) {
  return scene_loss_case(d, t, 64, 2, kernels::SceneLossNorm::None);
});
const BenchRegistrar fusion_head_reg("fusion_head", fusion_head_case);
const BenchRegistrar views_global_reg("views_global",
                                      [](Device d, DType t, bool small) { return views_case(d, t, small, false); });
const BenchRegistrar views_mosaic_reg("views_mosaic",
                                      [](Device d, DType t, bool small) { return views_case(d, t, small, true); });

}  // namespace
}  // namespace iqa::bench
