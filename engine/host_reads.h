// How many times this thread has waited for tensor values on the host: every item()/to_vector*()
// and every device-to-host copy, one each (engine/tensor.cpp). CPU tensors count too (an item() there
// is the sync it would be on a GPU), so the CPU tests can bound the reads of a training step
// (tests/test_host_reads.cpp). Per thread: the loader's workers read their own host tensors and must
// not disturb the count.
#pragma once
#include <cstdint>

namespace iqa {

int64_t host_reads();

}  // namespace iqa
