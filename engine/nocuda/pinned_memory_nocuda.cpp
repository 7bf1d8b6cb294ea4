// CPU-only build: host blocks are ordinary 64-byte-aligned memory (see engine/pinned_memory.h).
#include <cstdlib>

#include "engine/error.h"
#include "engine/pinned_memory.h"

namespace iqa {

HostBlock allocate_host_block(size_t nbytes, bool) {
  HostBlock b;
  b.nbytes = nbytes;
  size_t rounded = (nbytes + 63) / 64 * 64;
  b.data = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  IQA_CHECK(b.data, "allocate_host_block: out of host memory for ", nbytes, " bytes");
  return b;
}

void free_host_block(const HostBlock& block) { std::free(block.data); }

}  // namespace iqa
