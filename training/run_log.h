// A run's outputs besides checkpoints: train.log (human-readable, also echoed to stdout),
// metrics.jsonl (one JSON object per logged step and per evaluation), a progress line with images/s
// and ETA (a redrawn bar on a terminal, plain lines otherwise), and the stop flag that SIGINT/SIGTERM
// raise so the trainer can checkpoint between steps and exit cleanly.
#pragma once
#include <chrono>
#include <cstdint>
#include <exception>
#include <fstream>
#include <string>

namespace iqa::training {

class RunLog {
 public:
  // dir empty or enabled false: nothing is written (non-zero ranks), lines are not echoed.
  RunLog(const std::string& dir, bool enabled, bool echo = true);
  void line(const std::string& text);
  void json(const std::string& one_line_json);
  bool enabled() const { return enabled_; }
  // metrics.jsonl's size (0 when disabled), and cutting it back to an earlier size: a resumed run
  // drops the records written after its checkpoint, which it is about to write again.
  uint64_t jsonl_bytes();
  void truncate_jsonl(uint64_t bytes);

 private:
  bool enabled_, echo_;
  std::string jsonl_path_;
  std::ofstream log_, jsonl_;
};

class Progress {
 public:
  Progress(std::string label, int64_t total_steps, bool enabled);
  // After each step: steps done in this pass, images processed so far, the latest loss (NaN: not
  // shown), and an optional note appended to the line (the loader's cache hits).
  void update(int64_t done, int64_t images, double loss, const std::string& note = "");
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  int64_t last_plain_ = -1;
  std::chrono::steady_clock::time_point start_;
};

// SIGINT/SIGTERM set the stop flag (a second signal restores the default action, so a stuck run can
// still be killed). request_stop / clear_stop are for tests and internal use.
void install_stop_handlers();
bool stop_requested();
// Thrown by an evaluation that saw the stop flag between two chunks (EvalOptions::stop_on_signal): the
// epoch loop catches it, saves the run as it stood before the evaluation and stops, so a SIGTERM
// during a long evaluation ends the run within one chunk instead of after the whole test set.
struct EvaluationInterrupted : std::exception {
  const char* what() const noexcept override { return "evaluation interrupted by SIGINT/SIGTERM"; }
};
void request_stop();
void clear_stop();

}  // namespace iqa::training
