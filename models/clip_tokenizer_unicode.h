// Unicode tables for CLIP's tokenizer (generated into models/clip_tokenizer_unicode.cpp by
// tools/make_clip_unicode_tables.py), so its pre-tokenisation and lower-casing do not depend on the
// C++ locale or std::regex.
#pragma once
#include <cstddef>
#include <cstdint>

namespace iqa::models::unicode_tables {

struct CodeRange {
  uint32_t first, last;  // inclusive
};
// Code points start, start + stride, ... (count of them) lower-case to themselves + delta.
struct LowerRun {
  uint32_t start;
  uint32_t count, stride;
  int32_t delta;
};

extern const CodeRange kLetters[];  // \p{L}, sorted
extern const CodeRange kNumbers[];  // \p{N}
extern const CodeRange kSpaces[];   // str.isspace()
extern const LowerRun kLowerRuns[]; // str.lower() where it maps one code point to one
extern const size_t kLetterCount, kNumberCount, kSpaceCount, kLowerRunCount;

}  // namespace iqa::models::unicode_tables
