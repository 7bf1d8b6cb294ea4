#include "training/dsmix/trainer.h"

#include "engine/error.h"

namespace iqa::training {

StageResult run_dsmix_stage(const DsmixConfig& cfg, const TrainHooks& hooks) {
  if (cfg.stage == "dsm") return train_dsm(cfg, hooks);
  if (cfg.stage == "qep") return train_qep(cfg, hooks);
  if (cfg.stage == "lp") return train_lp(cfg, hooks);
  throw Error("dsmix-train: --stage must be dsm, qep or lp, got '" + cfg.stage + "'");
}

}  // namespace iqa::training
