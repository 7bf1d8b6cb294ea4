// Communicator::create and the world-size-1 communicator. Backends: engine/comm_tcp.cpp (CPU),
// engine/cuda/comm_nccl.cpp (CUDA; engine/nocuda/comm_nccl_nocuda.cpp in CPU-only builds).
#include "engine/comm.h"

#include "engine/comm_tcp.h"

namespace iqa::dist {

namespace {

// One rank: every collective is the identity. It still checks its arguments, so code that runs on
// one process is valid on many.
class LocalCommunicator : public Communicator {
 public:
  explicit LocalCommunicator(Device device) : device_(device) {}
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(Tensor& t) override { check("all_reduce_sum", t); }
  void broadcast(Tensor& t, int root) override {
    check("broadcast", t);
    IQA_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a world of size 1");
  }
  void barrier() override {}

 private:
  void check(const char* op, const Tensor& t) const {
    IQA_CHECK(t.device() == device_, op, ": tensor ", t.str(), " is not on the communicator's device ",
              device_.str());
    IQA_CHECK(t.is_contiguous(), op, ": needs a contiguous tensor, got ", t.str());
  }
  Device device_;
};

}  // namespace

namespace detail {
std::unique_ptr<Communicator> create_local_communicator(Device device) {
  return std::make_unique<LocalCommunicator>(device);
}
std::unique_ptr<Communicator> create_tcp_communicator(const LaunchInfo& info) {
  return std::make_unique<TcpCommunicator>(info);
}
}  // namespace detail

std::unique_ptr<Communicator> Communicator::create(const LaunchInfo& info, Device device) {
  IQA_CHECK(info.world_size >= 1 && info.rank >= 0 && info.rank < info.world_size, "Communicator: rank ",
            info.rank, " is not in a world of size ", info.world_size);
  if (info.world_size == 1) return detail::create_local_communicator(device);
  if (device.is_cuda()) return detail::create_nccl_communicator(info, device);
  return detail::create_tcp_communicator(info);
}

}  // namespace iqa::dist
