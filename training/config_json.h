// The JSON form both trainers' configurations share (config.json, checkpoint metadata): the fields a
// config's for_each_field visits, in its order, choices (training/choice.h enums) by their CLI
// spellings. Reading back rejects unknown keys and unknown choice values, naming the key.
#pragma once
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/error.h"
#include "training/choice.h"

namespace iqa::training {

// for_each(config, f) calls f(key, field) for every field.
template <class Config, class ForEach>
std::string fields_to_json(Config copy, ForEach for_each) {
  nlohmann::ordered_json j;
  for_each(copy, [&](const char* key, auto& value) {
    if constexpr (std::is_enum_v<std::decay_t<decltype(value)>>) j[key] = choice_name(value);
    else j[key] = value;
  });
  return j.dump(2);
}

// `what` names the text in errors ("config.json"). Missing keys keep the defaults.
template <class Config, class ForEach>
Config fields_from_json(const std::string& text, const std::string& what, ForEach for_each) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(what + ": " + e.what());
  }
  IQA_CHECK(j.is_object(), what, ": expected an object");
  Config c;
  std::vector<std::string> names;
  for_each(c, [&](const char* key, auto& value) {
    names.push_back(key);
    if (!j.contains(key)) return;
    try {
      using V = std::decay_t<decltype(value)>;
      if constexpr (std::is_enum_v<V>) value = parse_choice<V>(j.at(key).get<std::string>());
      else j.at(key).get_to(value);
    } catch (const std::exception& e) {
      throw Error(what + ": key '" + key + "': " + e.what());
    }
  });
  for (const auto& [key, _] : j.items())
    IQA_CHECK(std::find(names.begin(), names.end(), key) != names.end(), what, ": unknown key '", key, "'");
  return c;
}

// A JSON object's values as strings (strings as they are, the rest as JSON text): checkpoint metadata.
inline std::map<std::string, std::string> json_string_map(const std::string& json) {
  std::map<std::string, std::string> m;
  const nlohmann::json j = nlohmann::json::parse(json);  // items() refers to it: keep it alive
  for (const auto& [key, value] : j.items())
    m[key] = value.is_string() ? value.get<std::string>() : value.dump();
  return m;
}

// Throws "<tool>: invalid configuration:" with one problem a line, when there are any.
inline void throw_config_problems(const std::string& tool, const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::ostringstream os;
  os << tool << ": invalid configuration:";
  for (const auto& p : problems) os << "\n  " << p;
  throw Error(os.str());
}

}  // namespace iqa::training
