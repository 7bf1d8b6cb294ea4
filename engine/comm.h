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
  // How long rank 0 waits for the others to connect, and the others keep retrying to reach rank 0
  // (IQA_DIST_TIMEOUT, seconds).
  double timeout_s = 300.0;
  // How long a collective waits for a peer that sends nothing (IQA_COMM_TIMEOUT_S, seconds), after
  // which it fails naming that rank and the collective: a dead or hung rank ends the job instead of
  // holding the allocation. Ten minutes, PyTorch's NCCL default: longer than any step, evaluation or
  // checkpoint write one rank does while the others wait.
  double collective_timeout_s = 600.0;
};

// Reads RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT (torchrun), OMPI_COMM_WORLD_* or PMI_*
// (mpirun), SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID (srun), in that order; single process otherwise.
// Malformed values give an iqa::Error naming the variable.
LaunchInfo detect_launch();

// Expands a Slurm hostlist: "a,b", "node[01-04]", "gpu[1,3,5-7]", "r[1-2]-n[01-02]" (several bracket
// groups expand as a product, zero padding kept). Throws naming the list when it is malformed.
std::vector<std::string> expand_nodelist(const std::string& nodelist);

// The GPU this rank drives: local_rank modulo the visible device count (one process per GPU; with a
// per-rank CUDA_VISIBLE_DEVICES that is device 0). The NCCL communicator selects it with cudaSetDevice.
int cuda_device_index(const LaunchInfo& info);

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
// One backward pass per begin_step/finish_step (a gradient accumulated twice in a step is an error).
// A parameter whose gradient never arrives on this rank counts as a zero gradient and still ends up
// with the mean over ranks, so every rank holds the same gradients. Between begin_step and
// finish_step the communicator belongs to the synchroniser.
class GradientSynchronizer {
 public:
  // Parameters that do not require grad are skipped. bucket_at_world_size_1 runs the bucketed path
  // even with one rank (tests of the packing and, on CUDA, the stream handoff); normally world size 1
  // makes begin_step/finish_step no-ops.
  GradientSynchronizer(Communicator& comm, std::vector<Tensor> params, size_t bucket_bytes = size_t(25) << 20,
                       bool bucket_at_world_size_1 = false);
  ~GradientSynchronizer();
  void begin_step();   // arms the per-parameter hooks for one backward pass
  void finish_step();  // waits for every bucket; afterwards each .grad holds the mean over ranks

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {
// The backends Communicator::create chooses from. The NCCL one exists in every build; a CPU-only
// build's version throws (engine/nocuda/comm_nccl_nocuda.cpp). Exposed for tests.
std::unique_ptr<Communicator> create_local_communicator(Device device);
std::unique_ptr<Communicator> create_nccl_communicator(const LaunchInfo& info, Device device);
std::unique_ptr<Communicator> create_tcp_communicator(const LaunchInfo& info);
}  // namespace detail

}  // namespace iqa::dist
