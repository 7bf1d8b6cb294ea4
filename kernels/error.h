// One exception type for the whole project, at the bottom layer so every layer can throw it. Messages
// name the thing at fault (file, tensor, field).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace iqa {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void format_into(std::ostringstream&) {}
template <class T, class... R>
void format_into(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  format_into(os, rest...);
}
}  // namespace detail

// Concatenate anything streamable into a string: cat("tensor ", name, " has ", n, " dims").
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  detail::format_into(os, a...);
  return os.str();
}

[[noreturn]] inline void fail(const std::string& msg) { throw Error(msg); }

}  // namespace iqa

// IQA_CHECK(cond, parts...): throws iqa::Error("parts...") when cond is false.
#define IQA_CHECK(cond, ...)                          \
  do {                                                \
    if (!(cond)) ::iqa::fail(::iqa::cat(__VA_ARGS__)); \
  } while (0)
