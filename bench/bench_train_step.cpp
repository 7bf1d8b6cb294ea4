// Whole training steps, timed as one call each (issues 6 and 7): forward, loss, backward and the
// optimizer update, on random inputs already on the device, so the number is the step's compute
// without the data loader. bench/torch_peer_train.py builds the same steps in PyTorch.
//
//   sind_step_b64 / _b256  SIND's step: CLIP ViT-B/16 on the global crop and the mosaic (two tower
//                          passes), the LocalGlobal head, the scale-shift loss over 2 scenes, Adam
//                          (two groups, coupled L2) and the EMA update; bf16 autocast on CUDA.
//   qep_step_b110 / _b256  DSMix stage 2: ResNet-50 with the type (26) and level (6) heads,
//                          soft-target cross-entropy on both, SGD with momentum; bf16 autocast on
//                          CUDA. The frozen DSM predictor and the distillation teacher are not in
//                          the step (they are inference-only and depend on the batch's make-up);
//                          channels_last (NHWC, cuDNN) on CUDA, like the PyTorch peer.
// With --small both use the tiny networks at batch 4, so the CPU run takes seconds.
#include <memory>

#include "bench/bench_ops.h"
#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/ema.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/dsmix.h"
#include "training/sind/model.h"

namespace iqa::bench {
namespace {

// One timed step: the loss under autocast (bf16/f16 on CUDA when --dtype asks for it), backward, the
// optimizer update, then whatever the trainer does after it.
struct TrainStep {
  bool autocast = false;
  DType dtype = DType::BF16;
  virtual ~TrainStep() = default;
  virtual Tensor loss() = 0;
  virtual Optimizer& optimizer() = 0;
  virtual void after_step() {}

  void set_precision(Device device, DType requested) {
    autocast = device.is_cuda() && requested != DType::F32;
    dtype = requested == DType::F16 ? DType::F16 : DType::BF16;
  }
  void run() {
    EnableGradGuard grad;
    Tensor l;
    {
      amp::AutocastGuard ac(dtype, autocast);
      l = loss();
    }
    optimizer().zero_grad();
    l.backward();
    optimizer().step();
    after_step();
  }
};

struct SindStep : TrainStep {
  std::shared_ptr<models::QualityModel> model;
  std::unique_ptr<Adam> opt;
  std::unique_ptr<ExponentialMovingAverage> ema;
  Tensor xg, xl, mos, scenes;

  Tensor loss() override {
    Tensor pred = model->score(xg, xl).reshape({xg.size(0)}).to(DType::F32);
    return scale_shift_loss(pred, mos, scenes);
  }
  Optimizer& optimizer() override { return *opt; }
  void after_step() override { ema->update(); }
};

BenchCase sind_step_case(Device device, DType dtype, bool small, int64_t batch) {
  training::SindConfig cfg;
  cfg.clip_model = small ? training::ClipModel::Tiny : training::ClipModel::ViTB16;
  cfg.local_global = true;
  const int64_t B = small ? 4 : batch;
  auto step = std::make_shared<SindStep>();
  step->model = training::make_sind_model(cfg);
  step->model->to(device);
  step->model->train();
  const training::ParamSplit split = training::split_sind_parameters(*step->model);
  step->opt = std::make_unique<Adam>(
      std::vector<ParamGroup>{ParamGroup{split.backbone, 1e-5, 1e-5}, ParamGroup{split.head, 1e-5, 1e-5}});
  std::vector<Tensor> params = split.backbone;
  params.insert(params.end(), split.head.begin(), split.head.end());
  step->ema = std::make_unique<ExponentialMovingAverage>(params, 0.99, true);
  // The views arrive as f32 from the loader; autocast casts at the first GEMM, as in the trainer.
  step->xg = Tensor::randn({B, 3, 224, 224}, DType::F32, device);
  step->xl = Tensor::randn({B, 3, 224, 224}, DType::F32, device);
  step->mos = Tensor::rand({B}, DType::F32, device);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < B; ++i) ids.push_back(i * 2 / B);
  step->scenes = Tensor::from_vector_i64(ids, {B}, DType::I64, device);
  step->set_precision(device, dtype);
  BenchCase c;
  c.shape = std::string(training::choice_name(cfg.clip_model)) + "-b" + std::to_string(B);
  c.items = double(B);
  c.run = [step] { step->run(); };
  return c;
}

struct QepStep : TrainStep {
  std::shared_ptr<models::QualityEncoder> model;
  std::unique_ptr<SGD> opt;
  Tensor x, type_target, level_target;

  Tensor loss() override {
    const models::QualityEncoderOutput out = model->run(x);
    return cross_entropy_soft(out.type_logits.to(DType::F32), type_target) +
           cross_entropy_soft(out.level_logits.to(DType::F32), level_target);
  }
  Optimizer& optimizer() override { return *opt; }
};

BenchCase qep_step_case(Device device, DType dtype, bool small, int64_t batch) {
  const int64_t B = small ? 4 : batch;
  auto step = std::make_shared<QepStep>();
  models::QualityEncoderConfig cfg = small ? models::QualityEncoderConfig::tiny() : models::QualityEncoderConfig{};
  cfg.backbone.channels_last = device.is_cuda();
  step->model = std::make_shared<models::QualityEncoder>(cfg);
  step->model->to(device);
  step->model->train();
  step->opt = std::make_unique<SGD>(std::vector<ParamGroup>{ParamGroup{step->model->parameters(), 0.01, 1e-4}},
                                    SGDOptions{.momentum = 0.9});
  step->x = Tensor::randn({B, 3, 224, 224}, DType::F32, device);
  step->type_target = softmax(Tensor::randn({B, cfg.type_classes}, DType::F32, device), -1);
  step->level_target = softmax(Tensor::randn({B, cfg.level_classes}, DType::F32, device), -1);
  step->set_precision(device, dtype);
  BenchCase c;
  c.shape = std::string(small ? "resnet-tiny" : "resnet50") + "-b" + std::to_string(B);
  c.items = double(B);
  c.run = [step] { step->run(); };
  return c;
}

const BenchRegistrar sind64("sind_step_b64", [](Device d, DType t, bool s) { return sind_step_case(d, t, s, 64); });
const BenchRegistrar sind256("sind_step_b256", [](Device d, DType t, bool s) { return sind_step_case(d, t, s, 256); });
const BenchRegistrar qep110("qep_step_b110", [](Device d, DType t, bool s) { return qep_step_case(d, t, s, 110); });
const BenchRegistrar qep256("qep_step_b256", [](Device d, DType t, bool s) { return qep_step_case(d, t, s, 256); });

}  // namespace
}  // namespace iqa::bench
