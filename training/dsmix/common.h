// Pieces the dsmix-train stages share: the KADIS-style listing a configuration names and its held-out
// split by reference, the networks a configuration names, the frozen stage-1 predictor, the stage-2
// encoder export (torchvision ResNet names, so sind-train --clip_model resnet50 --pretrained loads it)
// and its loading for stage 3, and batch lists for evaluation.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/comm.h"
#include "engine/nn.h"
#include "models/dsmix.h"
#include "training/dsmix/config.h"
#include "training/dsmix/data.h"
#include "training/data/loader.h"
#include "training/data/scene_sampler.h"
#include "training/run_log.h"

namespace iqa::training {

// --kadis_root (real layout), --distorted_csv or --references (on the fly, --types, --types_per_image,
// all 5 levels). include_references adds each reference as a pristine sample (type = level = 0).
KadisSet load_kadis_set(const DsmixConfig& cfg, bool include_references);

// Samples split by reference content: a fraction `holdout` of the references (at least one, and at
// least one left for training; none when holdout is 0) is held out, chosen by a seeded shuffle.
// Indices into set.samples.
struct ReferenceSplit {
  std::vector<int64_t> train, held_out;
};
ReferenceSplit split_by_reference(const KadisSet& set, double holdout, uint64_t seed);

models::DSMPredictorConfig dsm_predictor_config(DsmModel dsm_model, int crop);
models::QualityEncoderConfig quality_encoder_config(const DsmixConfig& cfg);
models::ResNetConfig backbone_config(QeModel qe_model);

// The stage-1 predictor from its checkpoint (built from the checkpoint's own --dsm_model and --crop;
// a crop different from `crop` is an error because the ViT's positions are fixed), frozen, eval mode.
std::shared_ptr<models::DSMPredictor> load_frozen_predictor(const std::string& checkpoint, int crop);

// Writes the encoder's backbone with torchvision ResNet names (conv1.weight, layer1.0.bn1.running_mean,
// ...) and metadata {"format": "dsmix-encoder", "qe_model": ...}, atomically.
void export_encoder(const models::QualityEncoder& qe, QeModel qe_model, const std::string& path);
// The backbone for stage 3 from an exported encoder (torchvision names) or a stage-2 checkpoint
// (model.backbone.*). The architecture comes from the file's qe_model when it records one, else from
// `fallback_qe_model` (a recorded name that is not a --qe_model spelling is an error naming the file). Returns the backbone and a one-line description of what was loaded.
std::shared_ptr<models::ResNet> load_encoder_backbone(const std::string& path, QeModel fallback_qe_model,
                                                      std::string* summary = nullptr);

// Consecutive batches of `items` for evaluation, rank r taking batches r, r + world, ... (numbers are
// the batch positions, so keys stay the same whatever the world size).
std::vector<SampledBatch> eval_batches(const std::vector<int64_t>& items, int batch_size, int rank, int world);

// Maps batch indices drawn over 0..subset.size()-1 onto the subset's item indices.
std::vector<SampledBatch> map_to_subset(std::vector<SampledBatch> batches, const std::vector<int64_t>& subset);

// Element-wise sums over ranks, exact in double precision on any device (the doubles travel as bytes;
// no f64 tensor is made on the device).
std::vector<double> all_reduce_sums(dist::Communicator& comm, Device device, const std::vector<double>& values);

// The stages' KADIS renders at --crop, on-the-fly distortions seeded by --seed; evaluation renders
// are not flipped.
SampleRenderOptions render_options(const DsmixConfig& cfg, bool flip);
// --num_workers loader threads seeded by --seed.
LoaderOptions loader_options(const DsmixConfig& cfg);

// A fixed per-item key for evaluation renders (same crop every epoch).
uint64_t eval_key(uint64_t seed, int64_t index);

// An in-loop evaluation's network in eval mode until the evaluation ends, returned or thrown.
struct EvaluationScope {
  Module& module;
  explicit EvaluationScope(Module& m) : module(m) { module.eval(); }
  ~EvaluationScope() { module.train(); }
  EvaluationScope(const EvaluationScope&) = delete;
  EvaluationScope& operator=(const EvaluationScope&) = delete;
};
// Called before each batch of an in-loop evaluation: throws EvaluationInterrupted once SIGINT/SIGTERM
// has arrived, so a stop lands within one batch; the epoch loop then saves the run as it stood after
// the epoch's last step and --resume auto evaluates again (nothing of a cut evaluation is kept).
// On one rank only: ranks evaluate different numbers of batches, so with several the evaluation
// ends and all ranks stop together after it (training/epoch_loop.cpp, StopAgreement).
inline void check_evaluation_stop(int world) {
  if (world == 1 && stop_requested()) throw EvaluationInterrupted();
}
// Loads `batches` and runs `each` on every one, checking for a stop before each.
void for_each_evaluation_batch(Loader& loader, std::vector<SampledBatch> batches, int world,
                               const std::function<void(const Batch&)>& each);

}  // namespace iqa::training
