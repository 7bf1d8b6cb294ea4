// CLI11 checks for numeric lower bounds whose messages say what is wanted: CLI::PositiveNumber reports
// "--reps: Value 0 not in range 0.000000 to 1797...(300 digits).000000"; these report
// "--reps: must be at least 1, got '0'".
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "engine/error.h"

namespace iqa::tools {

namespace detail {
template <class Accept>
CLI::Validator lower_bound(const std::string& wanted, Accept accept) {
  return CLI::Validator(
      [wanted, accept](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return cat("must be a number ", wanted, ", got '", text, "'");
        return accept(v) ? std::string() : cat("must be ", wanted, ", got '", text, "'");
      },
      wanted);
}
}  // namespace detail

inline CLI::Validator at_least(double low) {
  return detail::lower_bound(cat("at least ", low), [low](double v) { return v >= low; });
}

inline CLI::Validator greater_than(double low) {
  return detail::lower_bound(cat("greater than ", low), [low](double v) { return v > low; });
}

}  // namespace iqa::tools
