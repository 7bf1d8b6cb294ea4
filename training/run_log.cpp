#include "training/run_log.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/error.h"

namespace iqa::training {

RunLog::RunLog(const std::string& dir, bool enabled, bool echo) : enabled_(enabled && !dir.empty()), echo_(echo) {
  if (!enabled_) return;
  std::filesystem::create_directories(dir);
  log_.open(dir + "/train.log", std::ios::app);
  jsonl_path_ = dir + "/metrics.jsonl";
  jsonl_.open(jsonl_path_, std::ios::app);
  IQA_CHECK(log_ && jsonl_, "RunLog: cannot open train.log / metrics.jsonl in ", dir);
}

void RunLog::line(const std::string& text) {
  if (!enabled_) return;
  log_ << text << '\n';
  log_.flush();
  if (echo_) std::cout << text << std::endl;
}

void RunLog::json(const std::string& one_line_json) {
  if (!enabled_) return;
  jsonl_ << one_line_json << '\n';
  jsonl_.flush();
}

uint64_t RunLog::jsonl_bytes() {
  if (!enabled_) return 0;
  jsonl_.flush();
  return std::filesystem::file_size(jsonl_path_);
}

// The stream appends (O_APPEND), so after the cut its next record lands at the new end.
void RunLog::truncate_jsonl(uint64_t bytes) {
  if (!enabled_) return;
  jsonl_.flush();
  std::error_code ec;
  if (std::filesystem::file_size(jsonl_path_, ec) > bytes && !ec) std::filesystem::resize_file(jsonl_path_, bytes, ec);
  IQA_CHECK(!ec, "RunLog: cannot cut ", jsonl_path_, " back to ", bytes, " bytes: ", ec.message());
}

Progress::Progress(std::string label, int64_t total_steps, bool enabled)
    : label_(std::move(label)), total_(total_steps), enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

// " loss 0.1234" after `gap`; nothing for a NaN loss (a pass without one, e.g. sind-score's).
static std::string loss_text(double loss, const char* gap) {
  if (std::isnan(loss)) return "";
  char b[48];
  std::snprintf(b, sizeof b, "%sloss %.4f", gap, loss);
  return b;
}

void Progress::update(int64_t done, int64_t images, double loss, const std::string& note) {
  if (!enabled_ || total_ <= 0) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? double(images) / secs : 0;
  const double eta = done > 0 ? secs / double(done) * double(total_ - done) : 0;
  char buf[256];
  if (tty_) {
    const int width = 30, filled = int(width * done / total_);
    std::string bar(size_t(filled), '#');
    bar.resize(size_t(width), '.');
    std::snprintf(buf, sizeof buf, "\r%s [%s] %lld/%lld%s  %.1f img/s  ETA %.0fs%s%s   ", label_.c_str(), bar.c_str(),
                  (long long)done, (long long)total_, loss_text(loss, "  ").c_str(), rate, eta, note.empty() ? "" : "  ",
                  note.c_str());
    std::cerr << buf << std::flush;
    return;
  }
  // Plain lines about ten times per pass, for logs and pipes.
  const int64_t every = std::max<int64_t>(1, total_ / 10);
  if (done != total_ && done / every == last_plain_ / every && last_plain_ >= 0) return;
  last_plain_ = done;
  std::snprintf(buf, sizeof buf, "%s %lld/%lld%s %.1f img/s ETA %.0fs%s%s", label_.c_str(), (long long)done,
                (long long)total_, loss_text(loss, " ").c_str(), rate, eta, note.empty() ? "" : " ", note.c_str());
  std::cerr << buf << std::endl;
}

void Progress::finish() {
  if (enabled_ && tty_) std::cerr << "\r" << std::string(100, ' ') << "\r" << std::flush;
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int sig) {
  g_stop.store(true);
  std::signal(sig, SIG_DFL);
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop.store(true); }
void clear_stop() { g_stop.store(false); }

}  // namespace iqa::training
