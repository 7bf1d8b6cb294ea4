#include "training/dsmix/common.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "engine/safetensors.h"
#include "models/checkpoint_names.h"
#include "training/checkpoint.h"

namespace iqa::training {
namespace fs = std::filesystem;
using namespace iqa::models;

namespace {
// A choice a checkpoint or an exported file records under `key` (its CLI spelling), or `fallback`
// when it records none; a spelling this build does not know is an error naming the file.
template <class E>
E recorded_choice(const std::map<std::string, std::string>& stored, const std::string& key, E fallback,
                  const std::string& path) {
  const auto it = stored.find(key);
  if (it == stored.end()) return fallback;
  try {
    return parse_choice<E>(it->second);
  } catch (const Error& e) {
    throw Error("dsmix-train: " + path + " records " + key + " '" + it->second + "': " + e.what());
  }
}
}  // namespace

KadisSet load_kadis_set(const DsmixConfig& cfg, bool include_references) {
  if (!cfg.kadis_root.empty()) {
    KadisLayout layout;
    layout.root = cfg.kadis_root;
    layout.type8 = cfg.kadis_type8;
    layout.include_references = include_references;
    return read_kadis_layout(layout);
  }
  if (!cfg.distorted_csv.empty()) return read_distort_csv(cfg.distorted_csv, cfg.reference_dir, include_references);
  std::vector<int> types = cfg.types;
  if (types.empty())
    for (int t = 1; t <= 25; ++t) types.push_back(t);
  return plan_on_the_fly(cfg.references, types, {1, 2, 3, 4, 5}, cfg.types_per_image, cfg.seed, include_references);
}

ReferenceSplit split_by_reference(const KadisSet& set, double holdout, uint64_t seed) {
  const int64_t refs = int64_t(set.references.size());
  IQA_CHECK(refs >= (holdout > 0 ? 2 : 1), "dsmix-train: need at least 2 references to hold some out (or --holdout 0), got ",
            refs);
  std::vector<int64_t> order(static_cast<size_t>(refs));
  for (int64_t i = 0; i < refs; ++i) order[size_t(i)] = i;
  SeededIndexRandom rng(seed, 0xd5a1);  // its own stream, apart from the samplers' epochs
  shuffle_indices(order, rng);
  const int64_t held =
      holdout > 0 ? std::clamp<int64_t>(int64_t(std::llround(holdout * double(refs))), 1, refs - 1) : 0;
  std::vector<bool> is_held(static_cast<size_t>(refs), false);
  for (int64_t i = 0; i < held; ++i) is_held[size_t(order[size_t(i)])] = true;
  ReferenceSplit s;
  for (size_t i = 0; i < set.samples.size(); ++i)
    (is_held[size_t(set.samples[i].reference)] ? s.held_out : s.train).push_back(int64_t(i));
  return s;
}

DSMPredictorConfig dsm_predictor_config(DsmModel dsm_model, int crop) {
  if (dsm_model == DsmModel::Tiny) return DSMPredictorConfig::tiny(crop);
  DSMPredictorConfig c;
  c.encoder.image_size = crop;
  return c;
}

ResNetConfig backbone_config(QeModel qe_model) {
  if (qe_model == QeModel::Tiny) return ResNetConfig::tiny(0);
  return ResNetConfig::resnet50(0);
}

QualityEncoderConfig quality_encoder_config(const DsmixConfig& cfg) {
  QualityEncoderConfig c = cfg.qe_model == QeModel::Tiny ? QualityEncoderConfig::tiny() : QualityEncoderConfig{};
  c.backbone = backbone_config(cfg.qe_model);
  c.backbone.channels_last = cfg.use_channels_last();
  c.joint = cfg.label_space == LabelSpace::Joint;
  return c;
}

std::shared_ptr<DSMPredictor> load_frozen_predictor(const std::string& checkpoint, int crop) {
  const auto stored = read_checkpoint_config(checkpoint);
  IQA_CHECK(stored.count("stage") && stored.at("stage") == choice_name(DsmixStage::DSM), "dsmix-train: --dsm_checkpoint ", checkpoint,
            " is not a stage-1 (dsm) checkpoint");
  const DsmModel model = recorded_choice(stored, "dsm_model", DsmModel::ViTB8, checkpoint);
  const int stored_crop = stored.count("crop") ? int(config_integer(stored, "crop", checkpoint, 1, 1 << 16)) : 224;
  IQA_CHECK(stored_crop == crop, "dsmix-train: --dsm_checkpoint ", checkpoint, " was trained at --crop ", stored_crop,
            ", this run uses --crop ", crop, "; the predictor's positional embedding fixes the size");
  auto p = std::make_shared<DSMPredictor>(dsm_predictor_config(model, crop));
  TrainingState st{p.get()};
  load_checkpoint(checkpoint, st);
  for (auto& t : p->parameters()) t.set_requires_grad(false);
  p->eval();
  return p;
}

void export_encoder(const QualityEncoder& qe, QeModel qe_model, const std::string& path) {
  if (!fs::path(path).parent_path().empty()) fs::create_directories(fs::path(path).parent_path());
  save_safetensors(path, qe.backbone->state_dict(), {{"format", "dsmix-encoder"}, {"qe_model", choice_name(qe_model)}});
}

std::shared_ptr<ResNet> load_encoder_backbone(const std::string& path, QeModel fallback_qe_model,
                                              std::string* summary) {
  IQA_CHECK(fs::exists(path), "dsmix-train: --encoder ", path, " does not exist");
  SafetensorsFile file = SafetensorsFile::open(path);
  QeModel qe_model = fallback_qe_model;
  TensorMap state;
  const auto& meta = file.metadata();
  if (meta.count("format") && meta.at("format") == "iqa.cu-checkpoint") {
    const auto stored = read_checkpoint_config(path);
    IQA_CHECK(stored.count("stage") && stored.at("stage") == choice_name(DsmixStage::QEP), "dsmix-train: --encoder ", path,
              " is a checkpoint but not of stage qep");
    qe_model = recorded_choice(stored, "qe_model", qe_model, path);
    const std::string prefix = "model.backbone.";
    for (const auto& n : file.names())
      if (n.rfind(prefix, 0) == 0) state[n.substr(prefix.size())] = file.get(n);
  } else {
    qe_model = recorded_choice(meta, "qe_model", qe_model, path);
    for (const auto& n : file.names()) state[n] = file.get(n);
  }
  auto backbone = std::make_shared<ResNet>(backbone_config(qe_model));
  const LoadReport r = load_torchvision_resnet(*backbone, state, /*strict=*/true, path);
  if (summary) *summary = std::string("encoder ") + choice_name(qe_model) + " from " + path + ": " + r.summary();
  return backbone;
}

std::vector<SampledBatch> eval_batches(const std::vector<int64_t>& items, int batch_size, int rank, int world) {
  std::vector<SampledBatch> out;
  int64_t number = 0;
  for (size_t i = 0; i < items.size(); i += size_t(batch_size), ++number) {
    if (number % world != rank) continue;
    SampledBatch b;
    b.number = number;
    b.indices.assign(items.begin() + int64_t(i), items.begin() + int64_t(std::min(items.size(), i + size_t(batch_size))));
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<SampledBatch> map_to_subset(std::vector<SampledBatch> batches, const std::vector<int64_t>& subset) {
  for (auto& b : batches)
    for (auto& i : b.indices) i = subset.at(size_t(i));
  return batches;
}

std::vector<double> all_reduce_sums(dist::Communicator& comm, Device device, const std::vector<double>& values) {
  if (comm.world_size() == 1 || values.empty()) return values;
  // The engine keeps f64 tensors off CUDA, and an f32 sum would round the counts and error sums. So
  // each rank's doubles travel bit for bit inside an f32 buffer (broadcast copies bytes), one
  // broadcast per rank, and every rank adds them up in double precision on the host, in rank order
  // (the same result on every rank).
  const size_t bytes = values.size() * sizeof(double);
  std::vector<double> sum(values.size(), 0.0), part(values.size());
  for (int root = 0; root < comm.world_size(); ++root) {
    std::vector<float> carrier(2 * values.size(), 0.0f);
    if (comm.rank() == root) std::memcpy(carrier.data(), values.data(), bytes);
    Tensor t = Tensor::from_vector(carrier, {int64_t(carrier.size())}).to(device);
    comm.broadcast(t, root);
    const Tensor host = t.to(kCPU).contiguous();
    std::memcpy(part.data(), host.data<float>(), bytes);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
  }
  return sum;
}

SampleRenderOptions render_options(const DsmixConfig& cfg, bool flip) {
  SampleRenderOptions o;
  o.crop = cfg.crop;
  o.distortion_seed = cfg.seed;
  o.flip = flip;
  return o;
}

LoaderOptions loader_options(const DsmixConfig& cfg) {
  LoaderOptions lo;
  lo.workers = cfg.num_workers;
  lo.seed = cfg.seed;
  return lo;
}

uint64_t eval_key(uint64_t seed, int64_t index) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + uint64_t(index) + 0xe7a1;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void for_each_evaluation_batch(Loader& loader, std::vector<SampledBatch> batches, int world,
                               const std::function<void(const Batch&)>& each) {
  loader.start_epoch(0, std::move(batches));
  for (;;) {
    check_evaluation_stop(world);
    const std::optional<Batch> b = loader.next();
    if (!b) return;
    each(*b);
  }
}

}  // namespace iqa::training
