// iqa-distort: generates a KADIS-700k-style distorted set from a folder of reference images.
// Thin front end: flags and progress display here, the work in training/distort/set.cpp.
#include <CLI/CLI.hpp>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "engine/omp_wait_policy.h"
#include "tools/iqa_distort_flags.h"
#include "tools/tool_error.h"

using namespace iqa;

namespace {

std::string type_table() {
  std::string s = "Distortion types (KADID-10k order):\n";
  for (int t = 1; t <= kNumDistortionTypes; ++t) {
    char line[160];
    std::snprintf(line, sizeof(line), "  %2d %-28s levels %g %g %g %g %g\n", t, distortion_name(t),
                  distortion_parameter(t, 1), distortion_parameter(t, 2), distortion_parameter(t, 3),
                  distortion_parameter(t, 4), distortion_parameter(t, 5));
    s += line;
  }
  s += "\nEvery output goes through the KADIS wrapper: min-max normalise, distort, min-max normalise.\n"
       "Type 15 (denoise): KADID runs MATLAB's pretrained DnCNN on the noisy image; those weights are not\n"
       "available, so this tool uses a classical substitute (per-channel non-local means at the known noise\n"
       "level). Its images are smoothed like KADID's but not pixel-identical.\n"
       "JPEG uses libjpeg quality scaling with 4:2:0 chroma, JPEG2000 OpenJPEG at the level's compression\n"
       "ratio: the closest equivalents of MATLAB's imwrite.\n";
  return s;
}

// A one-line bar redrawn in place on a terminal; a plain line per reference otherwise (logs, pipes).
class ProgressDisplay {
 public:
  ProgressDisplay() : tty_(isatty(fileno(stdout)) != 0), start_(std::chrono::steady_clock::now()) {}
  void update(const DistortSetProgress& p) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = secs > 0 ? double(p.done) / secs : 0.0;
    if (!p.skipped_reason.empty()) {
      if (tty_) std::printf("\r\033[K");
      std::fprintf(stderr, "skipped %s\n", p.skipped_reason.c_str());
    }
    if (tty_) {
      const int width = 30, filled = int(double(width) * double(p.done) / double(p.total));
      std::printf("\r\033[K[%s%s] %zu/%zu references  %.2f ref/s  ETA %.0f s", std::string(size_t(filled), '#').c_str(),
                  std::string(size_t(width - filled), '.').c_str(), p.done, p.total, rate,
                  rate > 0 ? double(p.total - p.done) / rate : 0.0);
    } else {
      std::printf("[%zu/%zu] %s: %d images%s (%.2f ref/s)\n", p.done, p.total, p.reference.c_str(), p.written,
                  p.kept > 0 ? (", " + std::to_string(p.kept) + " kept").c_str() : "", rate);
    }
    std::fflush(stdout);
  }
  void finish() {
    if (tty_) std::printf("\n");
  }

 private:
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

int main(int argc, char** argv) {
  iqa::use_passive_omp_waits(argv);
  CLI::App app{"iqa-distort: generate a KADIS-700k-style set (25 KADID distortion types x 5 levels) from a folder "
               "of reference images. Writes <name>_<type:02d>_<level:02d>.<ext> and a CSV (image, reference, "
               "type, level)."};
  app.footer(type_table());
  IqaDistortArgs a;
  add_iqa_distort_flags(app, a);
  CLI11_PARSE(app, argc, argv);

  try {
    finish_iqa_distort_args(a);
    if (a.threads > 0) omp_set_num_threads(a.threads);
    ProgressDisplay display;
    DistortSetResult r = generate_distorted_set(a.opts, [&](const DistortSetProgress& p) { display.update(p); });
    display.finish();
    const std::string kept = a.opts.resume ? cat(", ", r.images_kept, " kept from the interrupted run") : "";
    std::printf("%zu references, %zu images written%s, %zu skipped; list in %s\n", r.references, r.images_written,
                kept.c_str(), r.skipped, r.csv_path.c_str());
    return 0;
  } catch (const std::exception& e) {
    return iqa::tools::report_error("iqa-distort", e);
  }
}
