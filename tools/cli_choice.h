// CLI11 options whose values are training/choice.h enums: the text is parsed when the command line
// is, so an unknown value stops the tool with parse_choice's message (the allowed spellings), and
// --help shows the default's spelling.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "training/choice.h"

namespace iqa::training {

template <class E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, E& value, const std::string& help) {
  CLI::Option* opt = app.add_option_function<std::string>(
      flag,
      [&value, flag](const std::string& text) {
        try {
          value = parse_choice<E>(text, flag);
        } catch (const Error& e) {
          throw CLI::ValidationError(flag, e.what());
        }
      },
      help);
  return opt->default_str(choice_name(value));
}

// The scoring tools' shared pair (sind-score, iqa-scenes): a required --checkpoint and positional
// image files or folders.
inline void add_checkpoint_and_images(CLI::App& app, std::string& checkpoint, std::vector<std::string>& inputs,
                                      const std::string& checkpoint_help) {
  app.add_option("--checkpoint", checkpoint, checkpoint_help)->required();
  app.add_option("inputs", inputs, "image files or folders");
}

}  // namespace iqa::training
