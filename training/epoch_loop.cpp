#include "training/epoch_loop.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "engine/cuda_runtime.h"
#include "engine/device_prefetch.h"
#include "engine/error.h"
#include "engine/fault_point.h"
#include "engine/random.h"
#include "training/checkpoint.h"
#include "training/deferred_scalars.h"

namespace iqa::training {
namespace fs = std::filesystem;

namespace {

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// Where a run stands: what the checkpoint records besides the model and optimizer state.
struct Position {
  int start_epoch = 0;
  int64_t step = 0, skip_batches = 0, loss_count = 0;
  double loss_sum = 0;  // the current epoch's losses so far
};

Position resume_from(EpochLoop& loop, const std::string& path) {
  if (loop.check_checkpoint) loop.check_checkpoint(path, read_checkpoint_config(path));
  TrainingState st{loop.model, loop.optimizer, loop.ema, loop.scaler, &default_generator()};
  load_checkpoint(path, st);
  if (loop.restore_history) loop.restore_history(st.config.at("history"));
  Position p;
  p.step = st.step;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t done = config_integer(st.config, "batches_done", path, 0, kMax);
  p.loss_sum = config_number(st.config, "epoch_loss_sum", path);
  p.loss_count = config_integer(st.config, "epoch_loss_count", path, 0, kMax);
  p.start_epoch = int(st.epoch);
  // Saved after an epoch's last step but before its end was recorded (a stop during its evaluation):
  // the epoch is entered again with no batch left, and its record and evaluation are written then.
  const auto closed = st.config.find("epoch_closed");
  const bool epoch_closed = closed == st.config.end() || closed->second != "0";
  if (done >= loop.batches_per_epoch && epoch_closed) {  // saved at the end of an epoch
    ++p.start_epoch;
    p.loss_sum = 0;
    p.loss_count = 0;
  } else {
    p.skip_batches = done;
  }
  // Records logged after this checkpoint (a crash since) are written again; a finished run keeps all.
  if (st.config.count("metrics_bytes") && p.start_epoch < loop.passes)
    loop.log->truncate_jsonl(uint64_t(config_integer(st.config, "metrics_bytes", path, 0, kMax)));
  return p;
}

void save(const EpochLoop& loop, const std::string& path, const Position& p, int epoch, int64_t batches_done,
          bool epoch_closed = true) {
  if (loop.comm->rank() != 0) return;
  fs::create_directories(fs::path(path).parent_path());
  TrainingState st{loop.model, loop.optimizer, loop.ema, loop.scaler, &default_generator(), p.step, epoch, loop.config};
  st.config["history"] = loop.history_json ? loop.history_json(p.step) : std::string("{}");
  st.config["batches_done"] = std::to_string(batches_done);
  char hex[64];  // a hex float keeps the partial epoch's loss sum bit-exact across a resume
  std::snprintf(hex, sizeof hex, "%a", p.loss_sum);
  st.config["epoch_loss_sum"] = hex;
  st.config["epoch_loss_count"] = std::to_string(p.loss_count);
  st.config["metrics_bytes"] = std::to_string(loop.log->jsonl_bytes());
  if (!epoch_closed) st.config["epoch_closed"] = "0";
  save_checkpoint(path, st);
}

void write_plot(const EpochLoop& loop) {
  if (loop.comm->rank() != 0) return;
  PlotSeries loss{"train loss", {}};
  for (const auto& [e, l] : *loop.epoch_loss) loss.points.emplace_back(e, l);
  const std::vector<PlotSeries> series = loop.plot_series ? loop.plot_series() : std::vector<PlotSeries>{};
  write_training_plot(loop.run_dir + "/curves.svg", loss, series, loop.plot_title);
}

// The loader's batches in order, each with its device inputs when the client names them: pushed one
// batch ahead through the prefetcher (push(load 0); then per step: pop k, push k + 1, step k).
class BatchFeed {
 public:
  BatchFeed(const EpochLoop& loop, DevicePrefetcher& prefetch) : loop_(loop), prefetch_(prefetch) {
    while (prefetch_.pop()) {  // a previous epoch stopped early: drop what it pushed
    }
    ahead_ = fetch();
  }
  std::optional<Batch> next() {
    std::optional<Batch> b = std::move(ahead_);
    if (!b) return b;
    if (loop_.device_inputs) b->device_inputs = *prefetch_.pop();
    ahead_ = fetch();  // queued before the step, so its copy overlaps it
    return b;
  }

 private:
  std::optional<Batch> fetch() {
    std::optional<Batch> b = loop_.loader->next();
    if (!b || !loop_.device_inputs) return b;
    const std::vector<Tensor> in = loop_.device_inputs(*b);
    // The views lie in the batch's own page-locked planes: copied from there, with no staging copy.
    std::vector<bool> page_locked(in.size(), false);
    for (size_t i = 0; i < in.size(); ++i)
      for (const std::shared_ptr<float>& plane : b->planes)
        page_locked[i] = page_locked[i] || (b->pinned && in[i].raw_data() == plane.get());
    prefetch_.push(in, page_locked);
    return b;
  }
  const EpochLoop& loop_;
  DevicePrefetcher& prefetch_;
  std::optional<Batch> ahead_;
};

// Every rank's `mine`, in rank order (one all-reduce of a one-hot vector; exact for integers below
// 2^24); {mine} on one rank.
std::vector<double> from_every_rank(dist::Communicator& comm, Device device, double mine) {
  const int world = comm.world_size();
  if (world == 1) return {mine};
  std::vector<float> v(size_t(world), 0.0f);
  v[size_t(comm.rank())] = float(mine);
  Tensor t = Tensor::from_vector(v, {int64_t(world)}).to(device);
  comm.all_reduce_sum(t);
  return t.to_vector_f64();
}

// Whether the ranks stop here. A stop (SIGINT/SIGTERM, or a test's hook) reaches each rank at its own
// moment; a rank that stopped alone would leave the others waiting in their next collective until the
// watchdog (IQA_COMM_TIMEOUT_S, ten minutes by default). So with several ranks a rank remembers its
// stop and the ranks agree at points all of them reach in step: every log_every steps (where the loss
// is read anyway, so the extra all-reduce of one value adds no wait), an epoch's last step, and after
// each epoch's evaluation. One rank decides alone at every step, as before.
class StopAgreement {
 public:
  StopAgreement(dist::Communicator& comm, Device device) : comm_(comm), device_(device) {}
  // `wanted`: this rank saw a stop since the last agreement; `point`: every rank is at an agreement
  // point. Returns true on every rank, or on none.
  bool operator()(bool wanted, bool point) {
    pending_ = pending_ || wanted;
    if (comm_.world_size() == 1) return pending_;
    if (!point) return false;
    for (double vote : from_every_rank(comm_, device_, pending_ ? 1.0 : 0.0))
      if (vote > 0) return true;
    return false;
  }

 private:
  dist::Communicator& comm_;
  Device device_;
  bool pending_ = false;
};

// The losses of the steps since the last read, kept on the batch's device: reading a loss waits for
// its step to finish, so the loop reads them together (one host copy) only where it needs the numbers:
// at a step record, at an epoch's end, before any checkpoint, and after kMaxUnread steps (which bounds
// how long a non-finite loss goes unnoticed when --log_every is large). The CPU defers too, so its
// tests run the path the GPU runs. A non-finite loss is still named by its own step, and since every
// save reads first, the weights it produced are never saved. Every rank reads at the same steps, and
// the ranks agree on what they read: a non-finite loss on one rank reaches the others' losses only a
// step later (through the averaged gradients), perhaps after this read, and a rank that stopped alone
// would leave the others in their next collective.
class PendingLosses {
 public:
  static constexpr size_t kMaxUnread = 64;
  explicit PendingLosses(Device comm_device) : comm_device_(comm_device) {}
  struct Where {
    int64_t step, batch;
    int epoch;
  };
  void add(const Tensor& loss, Where where) {
    losses_.push_back(loss.detach());
    where_.push_back(where);
  }
  bool due(int64_t step, int log_every) const {
    return !losses_.empty() && (step % log_every == 0 || losses_.size() >= kMaxUnread);
  }
  // Adds the values to pos in step order (the sums of reading each at once) and returns the last read
  // (NaN before the first); throws naming the first non-finite loss.
  double read(const EpochLoop& loop, Position& pos, const std::string& ckpt_path) {
    const std::vector<double> values = read_scalars(losses_);
    size_t bad = 0;
    while (bad < values.size() && std::isfinite(values[bad])) ++bad;
    const bool mine = bad < values.size();
    const std::vector<double> seen = from_every_rank(*loop.comm, comm_device_, mine ? double(where_[bad].step) + 1 : 0.0);
    const std::string kept = loop.comm->rank() != 0       ? std::string(" (rank 0 keeps the checkpoints)")
                             : fs::exists(ckpt_path) ? " at " + ckpt_path
                                                     : std::string(" (none written yet)");
    if (mine) {
      const Where& w = where_[bad];
      fail(cat(loop.tool, ": non-finite loss (", values[bad], ") at step ", w.step, " (epoch ", w.epoch, ", batch ",
               w.batch, "); stopped, the last good checkpoint is kept", kept));
    }
    for (size_t r = 0; r < seen.size(); ++r)
      IQA_CHECK(seen[r] == 0, loop.tool, ": rank ", r, " had a non-finite loss at step ", int64_t(seen[r]) - 1,
                "; stopped on every rank, the last good checkpoint is kept", kept);
    for (size_t i = 0; i < values.size(); ++i) {
      pos.loss_sum += values[i];
      ++pos.loss_count;
      last_ = values[i];
    }
    losses_.clear();
    where_.clear();
    return last_;
  }
  double last() const { return last_; }

 private:
  Device comm_device_;
  std::vector<Tensor> losses_;
  std::vector<Where> where_;
  double last_ = std::nan("");
};

// The progress line's view-cache part: the share of this run's samples cut from the cache.
std::string cache_note(const Loader& loader) {
  const LoaderStats st = loader.stats();
  const int64_t seen = st.cache_hits + st.cache_misses;
  if (seen == 0) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "cache hits %.0f%%", 100.0 * double(st.cache_hits) / double(seen));
  return buf;
}

}  // namespace

Device pick_training_device(DeviceChoice choice, int local_rank, const std::string& tool) {
  const bool gpu = choice == DeviceChoice::CUDA || (choice == DeviceChoice::Auto && cuda::available());
  if (!gpu) return kCPU;
  IQA_CHECK(cuda::available(), tool, ": --device cuda but ", cuda::unavailable_reason());
  return cuda_device(local_rank % std::max(1, cuda::device_count()));
}

LoopOutcome run_epoch_loop(EpochLoop& loop, const TrainHooks& hooks) {
  IQA_CHECK(loop.log && loop.comm && loop.model && loop.optimizer && loop.loader && loop.loss && loop.epoch_batches &&
                loop.epoch_loss,
            "run_epoch_loop: log, comm, model, optimizer, loader, loss, epoch_batches and epoch_loss are required");
  IQA_CHECK(loop.batches_per_epoch > 0, loop.tool, ": no full batch per rank on ", loop.comm->world_size(),
            " rank(s); lower --batch_size or add data");
  dist::GradientSynchronizer sync(*loop.comm, loop.params);
  RunLog& log = *loop.log;
  const int world = loop.comm->world_size();
  const bool main_rank = loop.comm->rank() == 0;
  const std::string ckpt_path = loop.run_dir + "/checkpoints/last.safetensors";

  DevicePrefetcher prefetch(loop.device);
  // The communicator's device is the parameters' (loop.device may be left at the CPU default).
  const Device comm_device = loop.params.empty() ? loop.device : loop.params.front().device();
  StopAgreement stop_agreed(*loop.comm, comm_device);
  Position pos;
  std::string resume = loop.resume;
  if (resume == "auto") resume = fs::exists(ckpt_path) ? ckpt_path : "";
  if (loop.resume == "auto" && resume.empty()) log.truncate_jsonl(0);  // a crash before the first checkpoint
  if (!resume.empty()) {
    pos = resume_from(loop, resume);
    log.line("resumed from " + resume + " at epoch " + std::to_string(pos.start_epoch) + ", step " +
             std::to_string(pos.step));
  }

  for (int epoch = pos.start_epoch; epoch < loop.passes; ++epoch) {
    std::vector<SampledBatch> batches = loop.epoch_batches(epoch);
    const int64_t first = std::min<int64_t>(pos.skip_batches, int64_t(batches.size()));
    pos.skip_batches = 0;
    batches.erase(batches.begin(), batches.begin() + first);
    loop.loader->start_epoch(uint64_t(epoch), std::move(batches));
    Progress progress(loop.progress_label + " " + std::to_string(epoch), loop.batches_per_epoch - first,
                      main_rank && hooks.progress);
    int64_t images = 0, batch_index = first;
    BatchFeed feed(loop, prefetch);
    PendingLosses pending(comm_device);
    while (auto batch = feed.next()) {
      if (loop.schedule) loop.schedule(epoch, pos.step);
      if (hooks.on_batch) hooks.on_batch(pos.step, *batch);
      Tensor loss = loop.loss(*batch, pos.step);
      if (hooks.on_loss) hooks.on_loss(pos.step, loss);
      pending.add(loss, {pos.step, batch_index, epoch});
      loop.optimizer->zero_grad();
      sync.begin_step();
      if (loop.scaler) {
        loop.scaler->scale(loss).backward();
        sync.finish_step();
        loop.scaler->step(*loop.optimizer);
        loop.scaler->update();
      } else {
        loss.backward();
        sync.finish_step();
        loop.optimizer->step();
      }
      if (loop.ema) loop.ema->update();
      fault_point("step");
      ++pos.step;
      ++batch_index;
      images += batch->size;
      if (pending.due(pos.step, loop.log_every)) pending.read(loop, pos, ckpt_path);
      progress.update(batch_index - first, images * world, pending.last(), cache_note(*loop.loader));
      if (pos.step % loop.log_every == 0)  // the read above made this step's loss the last one read
        log.json(nlohmann::json{{"type", "step"}, {"epoch", epoch}, {"step", pos.step}, {"loss", pending.last()},
                                {"lr", loop.optimizer->param_groups()[size_t(loop.logged_lr_group)].lr}}.dump());
      const bool agreement_point = pos.step % loop.log_every == 0 || batch_index == loop.batches_per_epoch;
      if (stop_agreed(stop_requested() || hooks.stop_after_step == pos.step, agreement_point)) {
        pending.read(loop, pos, ckpt_path);
        progress.finish();
        // Not closed even after the epoch's last step: its record and evaluation come after --resume.
        save(loop, ckpt_path, pos, epoch, batch_index, /*epoch_closed=*/false);
        log.line("stopped at step " + std::to_string(pos.step) + " (epoch " + std::to_string(epoch) +
                 "); checkpoint written to " + ckpt_path + ", continue with --resume auto");
        return LoopOutcome{pos.step, true};
      }
    }
    pending.read(loop, pos, ckpt_path);
    progress.finish();
    // What a stop during the evaluation saves: the run after the epoch's last step, before its end
    // was recorded (the generator too, in case the evaluation draws from it).
    const Position before_end = pos;
    const uint64_t metrics_before_end = log.jsonl_bytes();
    const Generator generator_before_end = default_generator();
    const double mean_loss = pos.loss_count ? pos.loss_sum / double(pos.loss_count) : std::nan("");
    loop.epoch_loss->emplace_back(epoch, mean_loss);
    log.json(nlohmann::json{{"type", "epoch"}, {"epoch", epoch}, {"loss", finite_or_null(mean_loss)}, {"step", pos.step}}.dump());
    char head[128];
    std::snprintf(head, sizeof head, "epoch %3d  loss %.*f  lr %.3g", epoch, loop.loss_decimals, mean_loss,
                  loop.optimizer->param_groups()[size_t(loop.logged_lr_group)].lr);
    std::string line = head;
    pos.loss_sum = 0;
    pos.loss_count = 0;
    fault_point("eval_start");
    if (hooks.stop_in_evaluation == epoch) request_stop();
    std::optional<EpochEvaluation> ev;
    try {
      if (loop.evaluate) ev = loop.evaluate(epoch);
    } catch (const EvaluationInterrupted&) {
      loop.epoch_loss->pop_back();
      log.truncate_jsonl(metrics_before_end);
      default_generator() = generator_before_end;
      save(loop, ckpt_path, before_end, epoch, loop.batches_per_epoch, /*epoch_closed=*/false);
      log.line("stopped during the evaluation after epoch " + std::to_string(epoch) + "; checkpoint written to " +
               ckpt_path + ", continue with --resume auto (the evaluation runs again)");
      return LoopOutcome{pos.step, true};
    }
    if (ev) {
      for (nlohmann::json record : ev->records) {
        record["type"] = "eval";
        record["epoch"] = epoch;
        log.json(record.dump());
      }
      if (!ev->line.empty()) line += "  " + ev->line;
      fault_point("eval_logged");
    }
    log.line(line);
    save(loop, ckpt_path, pos, epoch, loop.batches_per_epoch);
    write_plot(loop);
    if (epoch + 1 < loop.passes && stop_agreed(stop_requested() || hooks.stop_after_epoch == epoch, true)) {
      log.line("stopped after epoch " + std::to_string(epoch) + "; continue with --resume auto");
      return LoopOutcome{pos.step, true};
    }
  }
  return LoopOutcome{pos.step, false};
}

}  // namespace iqa::training
