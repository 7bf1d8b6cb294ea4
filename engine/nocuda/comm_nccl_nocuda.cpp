// CPU-only build: there is no NCCL; asking for a CUDA communicator is a configuration error.
#include "engine/comm.h"

namespace iqa::dist::detail {

std::unique_ptr<Communicator> create_nccl_communicator(const LaunchInfo& info, Device device) {
  fail(cat("rank ", info.rank, ": a ", device.str(),
           " communicator needs NCCL, but this build of iqa.cu has no CUDA backend (configured with "
           "IQA_CUDA=OFF); train on the CPU or rebuild with CUDA"));
}

}  // namespace iqa::dist::detail
