// The NCCL communicator: one process per GPU, the unique id handed out by rank 0 over the TCP
// bootstrap (engine/comm_tcp.h), collectives enqueued on the calling thread's current stream, and a
// watchdog that ends the process when one does not complete within LaunchInfo::collective_timeout_s.
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "engine/comm.h"
#include "engine/comm_tcp.h"
#include "engine/cuda_runtime.h"
#include "kernels/cuda_check.h"

namespace iqa::dist {

namespace {

static_assert(sizeof(ncclUniqueId) == NCCL_UNIQUE_ID_BYTES);

ncclDataType_t nccl_type(const Tensor& t, const char* op) {
  switch (t.dtype()) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::BF16: return ncclBfloat16;
    case DType::F16: return ncclFloat16;
    default: fail(cat(op, " (NCCL): sums floating tensors (f32/bf16/f16/f64), got ", t.str()));
  }
}

// NCCL collectives are asynchronous: a dead or hung peer leaves the kernel spinning and the host blocked
// in the next synchronisation for ever. After each collective the communicator records an event; this
// thread polls it (and NCCL's asynchronous error), and past the timeout prints which collective waited,
// aborts the communicator (ncclCommAbort frees the GPU) and exits the process with status 1, as
// PyTorch's NCCL watchdog does: the job ends instead of holding its allocation.
class NcclWatchdog {
 public:
  NcclWatchdog(ncclComm_t comm, int rank, int device_index, double timeout_s)
      : comm_(comm), rank_(rank), device_index_(device_index), timeout_s_(timeout_s) {
    IQA_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
    thread_ = std::thread([this] { watch(); });
  }
  ~NcclWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    cudaEventDestroy(event_);
  }
  // After enqueueing collective `what` on `stream`.
  void enqueued(const char* what, cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mu_);
    IQA_CUDA_CHECK(cudaEventRecord(event_, stream));
    what_ = what;
    since_ = std::chrono::steady_clock::now();
    pending_ = true;
  }

 private:
  void watch() {
    cudaSetDevice(device_index_);  // this thread's event queries go to the communicator's GPU
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; })) {
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess) give_up(ncclGetErrorString(async));
      if (!pending_) continue;
      if (cudaEventQuery(event_) != cudaErrorNotReady) {
        pending_ = false;
        continue;
      }
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
      if (waited > timeout_s_) give_up("timed out");
    }
  }
  [[noreturn]] void give_up(const char* why) {
    std::fprintf(stderr,
                 "error: rank %d: NCCL %s did not complete within %g s (%s, IQA_COMM_TIMEOUT_S): another rank died "
                 "or hangs; aborting the communicator and exiting\n",
                 rank_, what_, timeout_s_, why);
    std::fflush(stderr);
    ncclCommAbort(comm_);
    std::_Exit(1);
  }

  ncclComm_t comm_;
  int rank_, device_index_;
  double timeout_s_;
  cudaEvent_t event_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, pending_ = false;
  const char* what_ = "collective";
  std::chrono::steady_clock::time_point since_;
  std::thread thread_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const LaunchInfo& info, Device device) : rank_(info.rank), world_size_(info.world_size) {
    IQA_CHECK(device.is_cuda(), "NCCL communicator: device ", device.str(), " is not a GPU");
    // The GPU follows the local rank (Device indices are not otherwise honoured by the engine): every
    // later CUDA call of this thread, the NCCL communicator included, goes to it.
    device_index_ = cuda_device_index(info);
    IQA_CUDA_CHECK(cudaSetDevice(device_index_));
    ncclUniqueId id{};
    {
      TcpGroup bootstrap(info);
      if (rank_ == 0) IQA_NCCL_CHECK(ncclGetUniqueId(&id));
      bootstrap.broadcast(&id, sizeof id, 0);
      // Collective over all ranks; the TCP group is no longer needed once it returns.
      IQA_NCCL_CHECK(ncclCommInitRank(&comm_, world_size_, id, rank_));
    }
    barrier_scratch_ = Tensor::zeros({1}, DType::F32, device);
    watchdog_ = std::make_unique<NcclWatchdog>(comm_, rank_, device_index_, info.collective_timeout_s);
  }
  ~NcclCommunicator() override {
    watchdog_.reset();  // stopped before the communicator it polls goes
    if (comm_) ncclCommDestroy(comm_);  // no throwing from a destructor
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  void all_reduce_sum(Tensor& t) override {
    check("all_reduce_sum", t);
    if (t.numel() == 0) return;
    IQA_NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t, "all_reduce_sum"),
                                 ncclSum, comm_, cuda::current_stream()));
    watchdog_->enqueued("all_reduce", cuda::current_stream());
  }

  void broadcast(Tensor& t, int root) override {
    check("broadcast", t);
    IQA_CHECK(root >= 0 && root < world_size_, "broadcast: root ", root, " is not a rank of a world of size ",
              world_size_);
    if (t.numel() == 0) return;
    // Bytes, so any dtype (integer buffers, RNG state) can be broadcast.
    IQA_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), t.nbytes(), ncclUint8, root, comm_,
                                 cuda::current_stream()));
    watchdog_->enqueued("broadcast", cuda::current_stream());
  }

  void barrier() override {
    all_reduce_sum(barrier_scratch_);
    IQA_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
  }

 private:
  void check(const char* op, const Tensor& t) const {
    IQA_CHECK(t.is_cuda(), op, " (NCCL): tensor ", t.str(), " is not on a GPU");
    IQA_CHECK(t.is_contiguous(), op, " (NCCL): needs a contiguous tensor, got ", t.str());
  }

  int rank_, world_size_;
  int device_index_ = 0;
  ncclComm_t comm_ = nullptr;
  Tensor barrier_scratch_;
  std::unique_ptr<NcclWatchdog> watchdog_;
};

}  // namespace

namespace detail {
std::unique_ptr<Communicator> create_nccl_communicator(const LaunchInfo& info, Device device) {
  return std::make_unique<NcclCommunicator>(info, device);
}
}  // namespace detail

}  // namespace iqa::dist
