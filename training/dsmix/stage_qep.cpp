// Stage 2 (spec §7-§8): quality-encoder pre-training with DSMix and semantic distillation.
// Batches come from QepBatchSampler: every sample once per epoch, a reference's samples side by side
// in chunks of --images_per_reference, so a sample's mixing partners (same reference, other
// distortions) are mostly in its batch. The StepLR schedule
// is applied per epoch (lr x lr_gamma every lr_step epochs), as torch's StepLR stepped per epoch.
#include <cmath>
#include <cstdio>
#include <memory>

#include "engine/amp.h"
#include "engine/autograd.h"
#include "engine/lr_schedule.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "models/checkpoint_names.h"
#include "training/dsmix/common.h"
#include "training/dsmix/qep_batches.h"
#include "training/dsmix/qep_loss.h"
#include "training/deferred_scalars.h"
#include "training/dsmix/trainer.h"

namespace iqa::training {
namespace {

// Argmax of row i of a host [B, C] f32 tensor.
int row_argmax(const float* logits, int64_t i, int64_t c) {
  int best = 0;
  for (int64_t k = 1; k < c; ++k)
    if (logits[i * c + k] > logits[i * c + best]) best = int(k);
  return best;
}

Tensor host_f32(const Tensor& t) { return t.to(DType::F32).to(kCPU).contiguous(); }

}  // namespace

StageResult train_qep(const DsmixConfig& input, const TrainHooks& hooks) {
  StageEnv env = open_stage(input, DsmixStage::QEP);
  const DsmixConfig& cfg = env.cfg;
  RunLog& log = *env.log;
  const bool joint = cfg.label_space == LabelSpace::Joint;

  const KadisSet set = load_kadis_set(cfg, /*include_references=*/true);
  const ReferenceSplit split = split_by_reference(set, cfg.holdout, cfg.seed);
  log.line("qep: " + std::to_string(set.samples.size()) + " samples (distorted + pristine) of " +
           std::to_string(set.references.size()) + " references (" + std::to_string(split.held_out.size()) +
           " held out by reference), crop " + std::to_string(cfg.crop) + ", " + choice_name(cfg.qe_model) + ", label space " +
           choice_name(cfg.label_space) + ", device " + env.device.str());

  manual_seed(cfg.seed);
  auto model = std::make_shared<models::QualityEncoder>(quality_encoder_config(cfg));
  model->to(env.device);
  model->train();
  std::vector<Tensor> params = model->parameters();
  std::unique_ptr<Optimizer> opt_holder;
  if (cfg.qep_optimizer == QepOptimizer::AdamW)
    opt_holder = std::make_unique<AdamW>(std::vector<ParamGroup>{ParamGroup{params, cfg.lr, cfg.weight_decay}});
  else
    opt_holder = std::make_unique<SGD>(std::vector<ParamGroup>{ParamGroup{params, cfg.lr, cfg.weight_decay}},
                                       SGDOptions{.momentum = cfg.momentum});
  Optimizer& opt = *opt_holder;

  log.line(std::string("optimizer: ") + choice_name(cfg.qep_optimizer) + (cfg.qep_optimizer == QepOptimizer::SGD ? " (momentum " + std::to_string(cfg.momentum) + ")" : "") +
           ", lr " + std::to_string(cfg.lr) + " x " + std::to_string(cfg.lr_gamma) + " every " + std::to_string(cfg.lr_step) +
           " epochs, weight decay " + std::to_string(cfg.weight_decay));
  std::shared_ptr<models::DSMPredictor> predictor;
  if (cfg.mix > 1) {
    predictor = load_frozen_predictor(cfg.dsm_checkpoint, cfg.crop);
    predictor->to(env.device);
    log.line("DSMix: Mix = " + std::to_string(cfg.mix) + (cfg.random_box_count ? " (random box count)" : "") +
             ", label weights from the frozen predictor " + cfg.dsm_checkpoint);
  } else {
    log.line("DSMix: off (--mix 1): one-hot targets, no cut-mix");
  }
  std::shared_ptr<models::ResNet> teacher;
  if (!cfg.teacher.empty()) {
    teacher = std::make_shared<models::ResNet>(backbone_config(cfg.qe_model));
    teacher->set_channels_last(cfg.use_channels_last());
    const models::LoadReport rep = models::load_pretrained(*teacher, cfg.teacher, models::WeightNaming::Torchvision, true);
    for (auto& t : teacher->parameters()) t.set_requires_grad(false);
    teacher->to(env.device);
    teacher->eval();
    log.line("distillation: on, teacher " + cfg.teacher + " (" + rep.summary() + "), alpha " + std::to_string(cfg.kd_alpha) +
             " x sum MAE + beta " + std::to_string(cfg.kd_beta) +
             " x sum cosine distance over layer1..4 (cosine along channels per location, averaged), pristine samples only");
  } else {
    log.line("distillation: off (no --teacher given); the loss is the soft-target cross-entropy alone");
  }

  const int64_t crop = cfg.crop, grid = crop / 8;
  const SampleRenderOptions train_ro = render_options(cfg, /*flip=*/true), eval_ro = render_options(cfg, false);
  const uint64_t seed = cfg.seed;
  const LoaderOptions lo = loader_options(cfg);
  const std::vector<size_t> planes = {size_t(3 * crop * crop)};
  Loader loader(int64_t(set.samples.size()), planes,
                [&set, train_ro](int64_t i, uint64_t key, float* const* p) { render_qep_sample(set, i, key, train_ro, p[0]); }, lo);
  Loader eval_loader(int64_t(set.samples.size()), planes,
                     [&set, eval_ro, seed](int64_t i, uint64_t, float* const* p) {
                       render_qep_sample(set, i, eval_key(seed, i), eval_ro, p[0]);
                     },
                     lo);

  std::vector<int> train_refs;
  for (int64_t i : split.train) train_refs.push_back(int(set.samples[size_t(i)].reference));
  const QepBatchSampler sampler(train_refs, cfg.images_per_reference,
                                ShuffledSamplerOptions{cfg.batch_size, env.world, env.rank, cfg.seed});
  const StepDecay schedule(cfg.lr_step, cfg.lr_gamma);
  DsmixOptions dopts;
  dopts.mix = cfg.mix;
  dopts.random_box_count = cfg.random_box_count;

  // Running sums of the loss terms between evaluations, for the log. The loss terms stay on the device
  // until the evaluation reads them (a step never waits for its own loss).
  DeferredSum ce_sum, kd_mae_sum, kd_cosd_sum;
  double mixed_sum = 0, pristine_sum = 0;
  int64_t term_steps = 0;

  EpochLoop loop;
  loop.plot_title = "DSMix stage 2: quality encoder (" + std::string(choice_name(cfg.qe_model)) + ", Mix " + std::to_string(cfg.mix) + ")";
  loop.model = model.get();
  loop.optimizer = &opt;
  loop.params = params;
  loop.loader = &loader;
  loop.batches_per_epoch = sampler.batches_per_rank();
  loop.epoch_batches = [&](int epoch) { return map_to_subset(sampler.epoch_batches(uint64_t(epoch)), split.train); };
  loop.schedule = [&](int epoch, int64_t) { schedule.apply(opt, epoch); };
  // The crops reach the device through the loop's prefetcher (copied one batch ahead).
  loop.device = env.device;
  loop.device_inputs = [crop](const Batch& b) { return std::vector<Tensor>{b.plane_tensor(0, {3, crop, crop})}; };
  loop.loss = [&](const Batch& b, int64_t step) {
    const int64_t n = b.size;
    std::vector<int> types(static_cast<size_t>(n)), levels(static_cast<size_t>(n));
    std::vector<int64_t> refs(static_cast<size_t>(n)), pristine;
    for (int64_t i = 0; i < n; ++i) {
      const KadisSample& s = set.samples[size_t(b.indices[size_t(i)])];
      types[size_t(i)] = s.type, levels[size_t(i)] = s.level, refs[size_t(i)] = s.reference;
      if (s.type == 0) pristine.push_back(i);
    }
    const Tensor& x = b.device_inputs[0];
    // The boxes and label weights are drawn on the host from the predictor's maps: the one read of the
    // step that remains (DSMix needs the maps before it can mix).
    std::vector<float> maps;
    if (predictor) {
      NoGradGuard ng;
      amp::AutocastGuard ac(DType::BF16, env.autocast());
      maps = host_f32(predictor->forward(x)).to_vector();
    }
    const MixedBatch mb = make_dsmix_batch(x, types, levels, refs, maps, int(grid), int(grid), dopts, joint,
                                           eval_key(seed ^ 0xd5c0ffee, step));
    Tensor loss;
    {
      amp::AutocastGuard ac(DType::BF16, env.autocast());
      models::QualityEncoderOutput out = model->run(mb.images);
      loss = dsmix_ce_loss(out, mb);
      ce_sum.add(loss);
      if (teacher && !pristine.empty()) {
        // Pristine samples are never mixed, so their rows of x and of the student's features match.
        const Tensor idx = Tensor::from_vector_i64(pristine, {int64_t(pristine.size())}).to(env.device);
        models::ResNetFeatures tf;
        {
          NoGradGuard ng;
          tf = teacher->features(index_select(x, 0, idx));
        }
        models::ResNetFeatures sf;
        sf.layer1 = index_select(out.features.layer1, 0, idx);
        sf.layer2 = index_select(out.features.layer2, 0, idx);
        sf.layer3 = index_select(out.features.layer3, 0, idx);
        sf.layer4 = index_select(out.features.layer4, 0, idx);
        KdTerms terms;
        loss = add(loss, distillation_loss(sf, tf, cfg.kd_alpha, cfg.kd_beta, &terms));
        kd_mae_sum.add(terms.mae);
        kd_cosd_sum.add(terms.cosd);
      }
    }
    mixed_sum += double(mb.mixed) / double(n);
    pristine_sum += double(pristine.size()) / double(n);
    ++term_steps;
    return loss;
  };
  auto evaluate = [&](int) {
    NoGradGuard ng;
    double s[4] = {0, 0, 0, 0};  // type correct, level correct, both correct, count
    {
      EvaluationScope scope(*model);
      for_each_evaluation_batch(eval_loader, eval_batches(split.held_out, cfg.batch_size, env.rank, env.world),
                                env.world, [&](const Batch& b) {
        Tensor x = b.plane_tensor(0, {3, crop, crop}).to(env.device);
        models::QualityEncoderOutput out;
        {
          amp::AutocastGuard ac(DType::BF16, env.autocast());
          out = model->run(x);
        }
        const Tensor lt = host_f32(joint ? out.class_logits : out.type_logits);
        const Tensor ll = joint ? lt : host_f32(out.level_logits);
        for (int64_t i = 0; i < b.size; ++i) {
          const KadisSample& smp = set.samples[size_t(b.indices[size_t(i)])];
          int type = 0, level = 0;
          if (joint) {  // class 0 = pristine, else 1 + (type - 1) * 5 + (level - 1)
            const int c = row_argmax(lt.data<float>(), i, lt.size(1));
            type = c == 0 ? 0 : 1 + (c - 1) / 5, level = c == 0 ? 0 : 1 + (c - 1) % 5;
          } else {
            type = row_argmax(lt.data<float>(), i, lt.size(1));
            level = row_argmax(ll.data<float>(), i, ll.size(1));
          }
          s[0] += type == smp.type, s[1] += level == smp.level, s[2] += type == smp.type && level == smp.level, s[3] += 1;
        }
      });
    }
    const std::vector<double> a = all_reduce_sums(*env.comm, env.device, std::vector<double>(s, s + 4));
    const double n = std::max(1.0, a[3]), steps = std::max<int64_t>(1, term_steps), ce = ce_sum.sum();
    EpochEval ev;
    ev.fields = {{"split", "held-out"},    {"type_acc", a[0] / n},       {"level_acc", a[1] / n},
                 {"joint_acc", a[2] / n},  {"count", a[3]},              {"train_ce", ce / steps},
                 {"train_mixed_fraction", mixed_sum / steps}, {"train_pristine_fraction", pristine_sum / steps}};
    if (teacher) ev.fields["train_kd_mae"] = kd_mae_sum.sum() / steps, ev.fields["train_kd_cosd"] = kd_cosd_sum.sum() / steps;
    char line[240];
    std::snprintf(line, sizeof line, "held-out accuracy: type %.4f  level %.4f  both %.4f  (train CE %.4f%s)", a[0] / n,
                  a[1] / n, a[2] / n, ce / steps, teacher ? ", KD terms logged" : "");
    ev.line = line;
    ev.plotted = {{"held-out type acc", a[0] / n}, {"held-out level acc", a[1] / n}};
    ce_sum.reset(), kd_mae_sum.reset(), kd_cosd_sum.reset();
    mixed_sum = pristine_sum = 0;
    term_steps = 0;
    return ev;
  };

  // --holdout 0: nothing to evaluate on.
  const std::function<EpochEval(int)> held_out_eval =
      split.held_out.empty() ? std::function<EpochEval(int)>() : std::function<EpochEval(int)>(evaluate);
  // Rank 0 logs its own terms, and saves and restores them (the other ranks' are never logged).
  RunningSums running;
  running.save = [&] {
    return nlohmann::json{{"ce", ce_sum.sum()},         {"kd_mae", kd_mae_sum.sum()},     {"kd_cosd", kd_cosd_sum.sum()},
                          {"mixed", mixed_sum},         {"pristine", pristine_sum},       {"steps", term_steps}};
  };
  running.restore = [&](const nlohmann::json& j) {
    auto value = [&](const char* key) { return j.contains(key) ? j.at(key).get<double>() : 0.0; };
    ce_sum.reset(value("ce")), kd_mae_sum.reset(value("kd_mae")), kd_cosd_sum.reset(value("kd_cosd"));
    mixed_sum = value("mixed"), pristine_sum = value("pristine");
    term_steps = j.contains("steps") ? j.at("steps").get<int64_t>() : 0;
  };
  StageResult r = run_stage_loop(env, loop, held_out_eval, hooks, {"type_acc", "level_acc", "joint_acc"},
                                 "stage 2 (qep): held-out accuracy type %.4f, level %.4f, both %.4f", running);
  const std::string line = r.lines.front();
  if (!r.interrupted) {
    const std::string enc = cfg.project_dir + "/encoder.safetensors";
    if (env.main_rank) export_encoder(*model, cfg.qe_model, enc);
    log.line(line);
    log.line("encoder written to " + enc + " (torchvision ResNet names: dsmix-train --stage lp --encoder " + enc +
             ", or sind-train --clip_model resnet50 --pretrained " + enc + ")");
    r.lines.push_back("  encoder: " + enc);
  }
  return r;
}

}  // namespace iqa::training
