// Stage 1 (spec §5-§6): the distortion sensitivity map predictor. The cosine schedule is stepped per
// optimizer step over the whole run (T_max = epochs x batches), a smooth form of the paper's
// "cosine annealing, 10 epochs".
#include <cmath>
#include <cstdio>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/lr_schedule.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "training/dsmix/common.h"
#include "training/dsmix/trainer.h"

namespace iqa::training {

StageResult train_dsm(const DsmixConfig& input, const TrainHooks& hooks) {
  StageEnv env = open_stage(input, DsmixStage::DSM);
  const DsmixConfig& cfg = env.cfg;
  RunLog& log = *env.log;

  const KadisSet set = load_kadis_set(cfg, /*include_references=*/false);
  const ReferenceSplit split = split_by_reference(set, cfg.holdout, cfg.seed);
  log.line("dsm: " + std::to_string(set.samples.size()) + " distorted samples of " + std::to_string(set.references.size()) +
           " references (" + std::to_string(split.held_out.size()) + " held out by reference), crop " +
           std::to_string(cfg.crop) + ", device " + env.device.str());

  manual_seed(cfg.seed);
  auto model = std::make_shared<models::DSMPredictor>(dsm_predictor_config(cfg.dsm_model, cfg.crop));
  model->to(env.device);
  model->train();
  std::vector<Tensor> params = model->parameters();
  AdamP opt({ParamGroup{params, cfg.lr, cfg.weight_decay}});

  const int64_t crop = cfg.crop, grid = crop / 8;
  const SampleRenderOptions train_ro = render_options(cfg, /*flip=*/true), eval_ro = render_options(cfg, false);
  const uint64_t seed = cfg.seed;
  const LoaderOptions lo = loader_options(cfg);
  const std::vector<size_t> planes = {size_t(3 * crop * crop), size_t(grid * grid)};
  Loader loader(int64_t(set.samples.size()), planes,
                [&set, train_ro](int64_t i, uint64_t key, float* const* p) { render_dsm_sample(set, i, key, train_ro, p[0], p[1]); },
                lo);
  Loader eval_loader(int64_t(set.samples.size()), planes,
                     [&set, eval_ro, seed](int64_t i, uint64_t, float* const* p) {
                       render_dsm_sample(set, i, eval_key(seed, i), eval_ro, p[0], p[1]);
                     },
                     lo);

  ShuffledSampler sampler(int64_t(split.train.size()), ShuffledSamplerOptions{cfg.batch_size, env.world, env.rank, cfg.seed});
  const int64_t per_epoch = sampler.batches_per_rank();
  const CosineAnnealing schedule(std::max<int64_t>(1, per_epoch * cfg.epochs));

  EpochLoop loop;
  loop.plot_title = "DSMix stage 1: sensitivity maps (" + std::string(choice_name(cfg.dsm_model)) + ")";
  loop.model = model.get();
  loop.optimizer = &opt;
  loop.params = params;
  loop.loader = &loader;
  loop.batches_per_epoch = per_epoch;
  loop.epoch_batches = [&](int epoch) { return map_to_subset(sampler.epoch_batches(uint64_t(epoch)), split.train); };
  loop.schedule = [&](int, int64_t step) { schedule.apply(opt, step); };
  // The training maps' running mean, for the baseline "predict the training mean everywhere".
  double train_gt_sum = 0, train_gt_count = 0;
  // The crops and their ground-truth maps reach the device through the loop's prefetcher (copied one
  // batch ahead, so on CUDA the copy overlaps the previous step).
  loop.device = env.device;
  loop.device_inputs = [crop, grid](const Batch& b) {
    return std::vector<Tensor>{b.plane_tensor(0, {3, crop, crop}), b.plane_tensor(1, {1, grid, grid})};
  };
  loop.loss = [&](const Batch& b, int64_t) {
    const Tensor& x = b.device_inputs[0];
    const Tensor& gt = b.device_inputs[1];
    const Tensor gt_host = b.plane_tensor(1, {1, grid, grid});
    const float* g = gt_host.data<float>();
    for (int64_t i = 0; i < gt_host.numel(); ++i) train_gt_sum += g[i];
    train_gt_count += double(gt_host.numel());
    amp::AutocastGuard ac(DType::BF16, env.autocast());
    return mse_loss(model->forward(x).to(DType::F32), gt);
  };
  auto evaluate = [&](int) {
    // Sums over this rank's share, then over ranks: squared and absolute error, count, the ground
    // truth's sum and sum of squares, and the training maps' sum and count (for the baseline).
    NoGradGuard ng;
    double s[7] = {0, 0, 0, 0, 0, train_gt_sum, train_gt_count};
    {
      EvaluationScope scope(*model);
      for_each_evaluation_batch(eval_loader, eval_batches(split.held_out, cfg.batch_size, env.rank, env.world),
                                env.world, [&](const Batch& b) {
        Tensor x = b.plane_tensor(0, {3, crop, crop}).to(env.device);
        Tensor gt = b.plane_tensor(1, {1, grid, grid});
        Tensor pred;
        {
          amp::AutocastGuard ac(DType::BF16, env.autocast());
          pred = model->forward(x).to(DType::F32).to(kCPU).contiguous();
        }
        const float* p = pred.data<float>();
        const Tensor g = gt.contiguous();
        const float* t = g.data<float>();
        for (int64_t i = 0; i < pred.numel(); ++i) {
          const double d = double(p[i]) - double(t[i]);
          s[0] += d * d, s[1] += std::abs(d), s[2] += 1, s[3] += t[i], s[4] += double(t[i]) * t[i];
        }
      });
    }
    const std::vector<double> a = all_reduce_sums(*env.comm, env.device, std::vector<double>(s, s + 7));
    const double n = std::max(1.0, a[2]), mse = a[0] / n, mae = a[1] / n;
    // E[(g - mu)^2] over the held-out maps, mu = the mean value of the training maps seen so far.
    const double mu = a[6] > 0 ? a[5] / a[6] : a[3] / n;
    const double mean_mse = std::max(0.0, a[4] / n - 2 * mu * a[3] / n + mu * mu);
    EpochEval ev;
    ev.fields = {{"split", "held-out"}, {"map_mse", mse}, {"map_mae", mae}, {"mean_map_mse", mean_mse}};
    char line[160];
    std::snprintf(line, sizeof line, "held-out map MSE %.6f  MAE %.5f  (predicting the training mean: MSE %.6f)", mse, mae,
                  mean_mse);
    ev.line = line;
    ev.plotted = {{"held-out map MAE", mae}};
    return ev;
  };

  // --holdout 0: nothing to evaluate on.
  const std::function<EpochEval(int)> held_out_eval =
      split.held_out.empty() ? std::function<EpochEval(int)>() : std::function<EpochEval(int)>(evaluate);
  // The training maps' sums are all-reduced by the evaluation but saved by rank 0 alone: restored
  // there, a resumed run's baseline is exact on one rank and, on several, leaves out the other ranks'
  // maps from before the stop (the mean of the maps seen, estimated from fewer of them).
  RunningSums running;
  running.save = [&] { return nlohmann::json{{"gt_sum", train_gt_sum}, {"gt_count", train_gt_count}}; };
  running.restore = [&](const nlohmann::json& j) {
    const bool mine = env.main_rank && j.contains("gt_sum");
    train_gt_sum = mine ? j.at("gt_sum").get<double>() : 0;
    train_gt_count = mine ? j.at("gt_count").get<double>() : 0;
  };
  StageResult r = run_stage_loop(
      env, loop, held_out_eval, hooks, {"map_mse", "map_mae", "mean_map_mse"},
      "stage 1 (dsm): held-out map MSE %.6f, MAE %.5f; predicting the training maps' mean value: MSE %.6f", running);
  r.lines.push_back("  checkpoint: " + env.ckpt_path + " (the --dsm_checkpoint of stage qep)");
  if (!r.interrupted)
    for (const auto& l : r.lines) log.line(l);
  return r;
}

}  // namespace iqa::training
