#include "training/dsmix/trainer.h"

#include "engine/error.h"

namespace iqa::training {

StageResult run_dsmix_stage(const DsmixConfig& cfg, const TrainHooks& hooks) {
  switch (cfg.stage) {
    case DsmixStage::DSM: return train_dsm(cfg, hooks);
    case DsmixStage::QEP: return train_qep(cfg, hooks);
    case DsmixStage::LP: return train_lp(cfg, hooks);
  }
  throw Error("dsmix-train: no trainer for --stage value " + std::to_string(int(cfg.stage)));
}

}  // namespace iqa::training
