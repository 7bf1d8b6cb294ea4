// Philox generator state: (seed, offset). Each random fill consumes `numel` counters, so a sequence
// of fills is reproducible from the seed alone, on CPU and CUDA alike.
#pragma once
#include <cstdint>

namespace iqa {

struct Generator {
  uint64_t seed = 0x5eed;
  uint64_t offset = 0;
  // Reserves n counters and returns the first.
  uint64_t take(uint64_t n) {
    uint64_t o = offset;
    offset += n;
    return o;
  }
};

// The process-wide default generator (torch.manual_seed analogue). Not thread-safe by design:
// worker threads use their own Generator.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace iqa
