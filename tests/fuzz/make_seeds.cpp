// Writes the seed corpora tools/fuzz.sh starts from (tests/fuzz/seeds.h).
//   make_seeds <dir> <checkout>  ->  <dir>/<target>/...
#include <cstdio>
#include <exception>

#include "tests/fuzz/seeds.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds <dir> <checkout>\n");
    return 2;
  }
  try {
    iqa::fuzz::write_seeds(argv[1], argv[2]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
