// The configuration of a dsmix-train run (shared/spec/dsmix.md §5-§9): one struct for the three
// stages, with the paper's recipe as per-stage defaults. tools/dsmix-train.cpp maps CLI11 flags onto
// it; the resolved form (every "stage default" filled in) is written to <project_dir>/config.json and
// into every checkpoint.
//
// Recipe values left at 0 / -1 take the stage's default (resolved()):
//   dsm: epochs 10,  batch 40,  lr 5e-3 (cosine), AdamP weight decay 1e-4
//   qep: epochs 120, batch 110, lr 0.01 x lr_gamma every lr_step epochs, SGD momentum 0.9, wd 1e-4
//   lp:  epochs 100 (LIVE, CSIQ, CLIVE and unknown sets) or 200 (TID2013, KADID, KonIQ, FLIVE),
//        batch 64, lr 7e-4 (cosine), AdamW weight decay 0.01
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "training/choice.h"
#include "training/dsmix/data.h"  // KadisType8

namespace iqa::training {

enum class DsmixStage { DSM, QEP, LP };
IQA_CHOICE_SPELLINGS(DsmixStage, "--stage", {DsmixStage::DSM, "dsm"}, {DsmixStage::QEP, "qep"}, {DsmixStage::LP, "lp"});

enum class DsmModel { ViTB8, Tiny };  // the stage-1 predictor: ViT-B/8 without CLS, or the test-sized one
IQA_CHOICE_SPELLINGS(DsmModel, "--dsm_model", {DsmModel::ViTB8, "vit-b8"}, {DsmModel::Tiny, "tiny"});

enum class QeModel { ResNet50, Tiny };  // the quality encoder (and the KD teacher's architecture)
IQA_CHOICE_SPELLINGS(QeModel, "--qe_model", {QeModel::ResNet50, "resnet50"}, {QeModel::Tiny, "tiny"});

IQA_CHOICE_SPELLINGS(KadisType8, "--kadis_type8",
                     {KadisType8::WithType8, "with-type8"}, {KadisType8::Literal, "literal"});

enum class ChannelsLast { Auto, On, Off };
IQA_CHOICE_SPELLINGS(ChannelsLast, "--channels_last",
                     {ChannelsLast::Auto, "auto"}, {ChannelsLast::On, "on"}, {ChannelsLast::Off, "off"});

enum class LabelSpace { TwoHeads, Joint };
IQA_CHOICE_SPELLINGS(LabelSpace, "--label_space", {LabelSpace::TwoHeads, "two-heads"}, {LabelSpace::Joint, "joint"});

enum class QepOptimizer { SGD, AdamW };
IQA_CHOICE_SPELLINGS(QepOptimizer, "--qep_optimizer", {QepOptimizer::SGD, "sgd"}, {QepOptimizer::AdamW, "adamw"});

enum class ScoreNormMode { ZScore, MinMax, None };
IQA_CHOICE_SPELLINGS(ScoreNormMode, "--score_norm",
                     {ScoreNormMode::ZScore, "zscore"}, {ScoreNormMode::MinMax, "minmax"}, {ScoreNormMode::None, "none"});

struct DsmixConfig {
  DsmixStage stage = DsmixStage::DSM;    // dsm | qep | lp
  std::string project_dir = "exp_log/dsmix";
  bool demo = false;

  // ---- recipe (0 / -1: the stage's default, see above) ----------------------------------------------
  int epochs = 0;
  int batch_size = 0;                    // per GPU
  double lr = 0;
  double weight_decay = -1;
  int crop = 224;                        // training crop; the DSM grid is crop / 8
  uint64_t seed = 0;
  std::string resume;                    // checkpoint path, or "auto" (<run dir>/checkpoints/last.safetensors)
  DeviceChoice device = DeviceChoice::Auto;  // auto | cpu | cuda
  Precision precision = Precision::FP32;  // fp32 | bf16 (autocast on CUDA only; fp16 is rejected)
  int num_workers = 4;
  std::string cache_dir;  // lp: the view cache of decoded images ("auto": <project_dir>/view_cache); empty = off
  int log_every = 10;                    // optimizer steps between metrics.jsonl step lines
  int eval_every = 1;                    // held-out evaluation after epoch e when (e + 1) % eval_every == 0 and after the last

  // ---- KADIS-style data (dsm, qep): exactly one of kadis_root, distorted_csv, references ---------------
  std::string kadis_root;                // KADIS-700k's real layout (reference CSV, ref_imgs/, dist_imgs/)
  KadisType8 kadis_type8 = KadisType8::WithType8;  // with-type8 | literal (spec §2's note on column dist_type_2)
  std::string distorted_csv;             // tools/iqa-distort's distortions.csv
  std::string reference_dir;             // the references of --distorted_csv (iqa-distort's --input)
  std::string references;                // a folder of reference images, distorted on the fly
  std::vector<int> types;                // on the fly: distortion types drawn from (empty: all 25)
  int types_per_image = 1;               // on the fly: types per reference (KADIS: 1), each at all 5 levels
  double holdout = 0.05;                 // fraction of references held out for map error / accuracy (0: none, no evaluation)

  // ---- models ---------------------------------------------------------------------------------------
  DsmModel dsm_model = DsmModel::ViTB8;  // vit-b8 | tiny   (the stage-1 predictor)
  QeModel qe_model = QeModel::ResNet50;  // resnet50 | tiny (the quality encoder and the KD teacher)
  ChannelsLast channels_last = ChannelsLast::Auto;  // auto (on when the run is on CUDA) | on | off: the ResNets run NHWC

  // ---- stage 2 (qep) --------------------------------------------------------------------------------
  std::string dsm_checkpoint;            // stage-1 checkpoint (frozen predictor for the DSMix weights)
  int mix = 3;                           // images per mixed sample (1: no mixing)
  bool random_box_count = false;         // boxes per sample uniform in {0..mix-1} instead of exactly mix-1
  LabelSpace label_space = LabelSpace::TwoHeads;  // two-heads (26 types + 6 levels) | joint (one 126-way head)
  std::string teacher;                   // torchvision ResNet-50 safetensors; empty: no distillation
  double kd_alpha = 1.0, kd_beta = 1.0;  // weights of the MAE and the cosine-distance terms
  int images_per_reference = 6;          // at most this many same-reference samples side by side (QepBatchSampler chunk; 6: all of a KADIS reference)
  double momentum = 0.9;
  // sgd (the paper's recipe) | adamw (betas 0.9/0.999, the same --lr and --weight_decay): a demo /
  // small-model option; from scratch, small ResNets learn the labels faster with AdamW.
  QepOptimizer qep_optimizer = QepOptimizer::SGD;
  int lr_step = 5;                       // StepLR: lr x lr_gamma every lr_step epochs
  double lr_gamma = 0.9;

  // ---- stage 3 (lp) ---------------------------------------------------------------------------------
  std::string encoder;                   // stage-2 encoder.safetensors (torchvision names) or its checkpoint
  std::string dataset;                   // registry name (<json_root>/all/<name>.json) or a listing .json
  std::string data_root = "./data";
  std::string json_root = "./data_json";
  int splits = 10;                       // random 80/20 splits (by reference content for synthetic sets)
  double train_fraction = 0.8;
  ScoreNormMode score_norm = ScoreNormMode::ZScore;  // zscore | minmax | none: targets from the training split's statistics

  // The configuration with every stage default filled in (epochs, batch_size, lr, weight_decay).
  DsmixConfig resolved() const;
  // Throws iqa::Error listing every invalid value. Call on resolved().
  void validate() const;
  // Choices by their CLI spellings; an unknown key or choice value in the input is an error.
  std::string to_json() const;
  static DsmixConfig from_json(const std::string& text);
  std::map<std::string, std::string> to_string_map() const;
  // channels_last resolved: auto is on when the run uses CUDA (--device cuda, or auto with a GPU).
  bool use_channels_last() const;
  bool operator==(const DsmixConfig&) const = default;
};

// The paper's LP epochs for a dataset name (spec §9): 200 for tid2013, kadid10k, koniq10k and FLIVE
// (flive, paq2piq); 100 otherwise (live, csiq, livec and anything unlisted).
int lp_default_epochs(const std::string& dataset);

}  // namespace iqa::training
