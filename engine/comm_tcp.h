// A small TCP group over the ranks: the bootstrap that hands out the NCCL unique id, and the
// collectives behind the CPU communicator.
//
// Topology: a star through rank 0. Rank 0 listens on MASTER_PORT (all interfaces) and keeps one
// socket per peer; every other rank connects to MASTER_ADDR:MASTER_PORT, retrying with backoff until
// LaunchInfo::timeout_s. A star rather than a ring because CPU data parallelism here serves tests and
// small CPU runs with a handful of ranks: rank 0 moves (N-1)x the data, but the code is short, and
// rank 0 sums the contributions in rank order, so every rank gets bitwise the same result.
//
// Wire format: every message is a 16-byte header (magic, op, payload length) and the payload. The
// receiver checks op and length, so ranks that call collectives in different orders or with different
// sizes get an error naming both, not silent garbage. Sends use MSG_NOSIGNAL (a dead peer is an
// error, not SIGPIPE); EINTR is retried. A peer that closed its connection (it exited or was killed)
// is an error at once; one that stays silent (hung, stopped, its host gone without a FIN) is an error
// after LaunchInfo::collective_timeout_s; both name that rank and the collective. One TcpGroup must not be used from two threads at once;
// separate groups (e.g. one per rank in a test's threads) share nothing.
#pragma once
#include <cstddef>
#include <vector>

#include "engine/comm.h"

namespace iqa::dist {

class TcpGroup {
 public:
  // Connects the group (world size 1: nothing to connect). Throws naming host:port on timeout.
  explicit TcpGroup(const LaunchInfo& info);
  ~TcpGroup();
  TcpGroup(const TcpGroup&) = delete;
  TcpGroup& operator=(const TcpGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  void broadcast(void* data, size_t nbytes, int root);
  void all_reduce_sum(float* data, size_t count);
  void all_reduce_sum(double* data, size_t count);
  void barrier();

 private:
  template <class T>
  void all_reduce_sum_impl(T* data, size_t count);
  void accept_peers(const LaunchInfo& info);
  void connect_to_root(const LaunchInfo& info);

  int rank_ = 0;
  int world_size_ = 1;
  double timeout_s_ = 600;  // LaunchInfo::collective_timeout_s
  // Rank 0: peers_[r] is the socket to rank r (peers_[0] unused). Other ranks: peers_[0] is rank 0.
  std::vector<int> peers_;
};

// The CPU communicator: contiguous f32/f64 CPU tensors over a TcpGroup.
class TcpCommunicator : public Communicator {
 public:
  explicit TcpCommunicator(const LaunchInfo& info) : group_(info) {}
  int rank() const override { return group_.rank(); }
  int world_size() const override { return group_.world_size(); }
  void all_reduce_sum(Tensor& t) override;
  void broadcast(Tensor& t, int root) override;
  void barrier() override { group_.barrier(); }

 private:
  TcpGroup group_;
};

// A localhost TCP port that was free a moment ago (the kernel picks it). For tests.
int find_free_tcp_port();

}  // namespace iqa::dist
