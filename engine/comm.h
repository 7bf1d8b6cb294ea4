// Data-parallel communication: how this process was launched, a communicator over the ranks, and the
// gradient synchroniser the trainer uses. One process per GPU; world size 1 goes through the same code.
//
//   LaunchInfo li = detect_launch();                 // torchrun env, mpirun (Open MPI / PMI), Slurm srun
//   auto comm = Communicator::create(li, device);    // NCCL on CUDA; TCP ring on CPU; no-op for 1 rank
//   GradientSynchronizer sync(*comm, params);        // bucketed all-reduce overlapped with backward
//   sync.begin_step(); loss.backward(); sync.finish_step();   // grads are now averaged over ranks
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace iqa::dist {

struct LaunchInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";  // where rank 0 listens to hand out the NCCL unique id
  int master_port = 29500;
  std::string launcher = "single";        // "single", "torchrun", "mpirun", "slurm"
};

// Reads RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT (torchrun), OMPI_COMM_WORLD_* or PMI_*
// (mpirun), SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID (srun), in that order; single process otherwise.
// Malformed values give an iqa::Error naming the variable.
LaunchInfo detect_launch();

class Communicator {
 public:
  virtual ~Communicator() = default;
  // NCCL for CUDA devices, a TCP ring for CPU tensors, a no-op for world size 1.
  static std::unique_ptr<Communicator> create(const LaunchInfo& info, Device device);

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In-place sum over ranks of a contiguous floating tensor on this communicator's device.
  virtual void all_reduce_sum(Tensor& t) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
};

// Averages parameter gradients over ranks. Gradients are packed into buckets of about bucket_bytes
// in reverse parameter order (the order backward produces them); a bucket is all-reduced as soon as
// every gradient in it has been accumulated, overlapping communication with the rest of backward.
class GradientSynchronizer {
 public:
  GradientSynchronizer(Communicator& comm, std::vector<Tensor> params, size_t bucket_bytes = size_t(25) << 20);
  ~GradientSynchronizer();
  void begin_step();   // arms the per-parameter hooks for one backward pass
  void finish_step();  // waits for every bucket; afterwards each .grad holds the mean over ranks

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iqa::dist
