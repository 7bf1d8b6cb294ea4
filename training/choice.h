// Command-line choices as enums. Each option's spellings are written once, in a ChoiceSpellings
// specialisation next to the enum; parse_choice turns the CLI / config.json text into the enum at
// configuration time (an unknown value is an iqa::Error naming the flag and listing the allowed
// spellings), and choice_name gives the spelling back for config.json, checkpoints and logs. Code
// downstream of a configuration switches on the enum and never compares strings.
#pragma once
#include <string>
#include <string_view>
#include <iterator>

#include "engine/error.h"

namespace iqa::training {

template <class E>
struct Spelling {
  E value;
  const char* name;
};

// Specialised once per enum, with IQA_CHOICE_SPELLINGS inside namespace iqa::training.
template <class E>
struct ChoiceSpellings;

// IQA_CHOICE_SPELLINGS(Precision, "--precision", {Precision::FP32, "fp32"}, {Precision::BF16, "bf16"}):
// the flag that names the choice in errors, and every value with its one spelling.
#define IQA_CHOICE_SPELLINGS(E, FLAG, ...)              \
  template <>                                           \
  struct ChoiceSpellings<E> {                           \
    static constexpr const char* flag = FLAG;           \
    static constexpr Spelling<E> all[] = {__VA_ARGS__}; \
  }

// "a, b or c": the allowed spellings, for error messages.
template <class E>
std::string allowed_choices() {
  std::string out;
  const auto& all = ChoiceSpellings<E>::all;
  const size_t n = std::size(all);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += i + 1 == n ? " or " : ", ";
    out += all[i].name;
  }
  return out;
}

// `flag` names the choice in the error: the enum's own flag, or the spelling a tool registered it
// under (loader-bench's --local-view for sind-train's --local_view).
template <class E>
E parse_choice(std::string_view text, std::string_view flag = ChoiceSpellings<E>::flag) {
  for (const Spelling<E>& s : ChoiceSpellings<E>::all)
    if (text == s.name) return s.value;
  throw Error(std::string(flag) + " must be " + allowed_choices<E>() + ", got '" + std::string(text) + "'");
}

template <class E>
const char* choice_name(E value) {
  for (const Spelling<E>& s : ChoiceSpellings<E>::all)
    if (s.value == value) return s.name;
  throw Error(std::string(ChoiceSpellings<E>::flag) + ": no spelling for value " + std::to_string(int(value)));
}

// The choices both trainers share.
enum class DeviceChoice { Auto, CPU, CUDA };
IQA_CHOICE_SPELLINGS(DeviceChoice, "--device",
                     {DeviceChoice::Auto, "auto"}, {DeviceChoice::CPU, "cpu"}, {DeviceChoice::CUDA, "cuda"});

enum class Precision { FP32, BF16, FP16 };  // bf16 / fp16: autocast on CUDA; fp16 adds a GradScaler
IQA_CHOICE_SPELLINGS(Precision, "--precision",
                     {Precision::FP32, "fp32"}, {Precision::BF16, "bf16"}, {Precision::FP16, "fp16"});

}  // namespace iqa::training
