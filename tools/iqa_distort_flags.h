// iqa-distort's command line, registered here rather than in its main so that the CLI fuzz target
// (tests/fuzz/targets_cli.h) parses exactly the flags the tool does, without distorting anything.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "training/distort/distort.h"
#include "training/distort/set.h"
#include "tools/cli_bounds.h"
#include "tools/cli_choice.h"
#include "training/data/loader.h"  // BadImagePolicy and its spellings

namespace iqa {

struct IqaDistortArgs {
  DistortSetOptions opts;
  std::string types = "1-25", levels = "1-5";
  BadImagePolicy bad_image = BadImagePolicy::Fail;
  int threads = 0;
};

inline void add_iqa_distort_flags(CLI::App& app, IqaDistortArgs& a) {
  app.add_option("--input", a.opts.input_dir, "folder of reference images (.jpg, .png, .bmp)")->required();
  app.add_option("--output", a.opts.output_dir, "folder for the distorted images and the CSV")->required();
  app.add_option("--types", a.types, "distortion types: numbers, ranges or names, e.g. 1-8,10,jpeg2000")
      ->capture_default_str();
  app.add_option("--levels", a.levels, "levels, e.g. 1-5 or 2,4")->capture_default_str();
  app.add_option("--types-per-image", a.opts.types_per_image,
                 "0: every selected type for every reference; n: n types per reference drawn from the seed "
                 "(KADIS-700k uses 1)")
      ->check(tools::at_least(0))
      ->capture_default_str();
  app.add_option("--seed", a.opts.seed, "seed for every random distortion (each image gets its own stream)")
      ->capture_default_str();
  app.add_option("--format", a.opts.format, "output format")->check(CLI::IsMember({"bmp", "png"}))->capture_default_str();
  app.add_option("--csv", a.opts.csv_name, "CSV file name inside --output")->capture_default_str();
  training::add_choice(app, "--bad-image", a.bad_image, "fail: stop at the first undecodable reference; skip: log it and go on");
  app.add_option("--threads", a.threads, "references processed in parallel (0: all cores)")->check(tools::at_least(0));
  app.add_flag("--resume", a.opts.resume,
               "keep the images an interrupted run with the same options wrote (it records them in "
               "<output>/.iqa-distort-options); without it every image is made again");
}

// The type and level lists into ids; throws iqa::Error naming the flag's bad entry.
inline void finish_iqa_distort_args(IqaDistortArgs& a) {
  const auto ids = [](const std::string& flag, const std::string& spec, int hi, bool names) {
    try {
      return parse_id_list(spec, 1, hi, names);
    } catch (const Error& e) {
      fail(cat(flag, ": ", e.what()));
    }
  };
  a.opts.types = ids("--types", a.types, kNumDistortionTypes, true);
  a.opts.levels = ids("--levels", a.levels, kNumDistortionLevels, false);
  a.opts.skip_bad_images = a.bad_image == BadImagePolicy::Skip;
}

}  // namespace iqa
