// TCP group (star through rank 0): connection setup with retry and timeout, framed messages, and the
// CPU collectives. See engine/comm_tcp.h for the design.
#include "engine/comm_tcp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <thread>

namespace iqa::dist {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kMagic = 0x49514143;  // "IQAC"
enum class Op : uint32_t { Hello = 1, AllReduce = 2, Broadcast = 3, Barrier = 4 };

const char* op_name(uint32_t op) {
  switch (Op(op)) {
    case Op::Hello: return "handshake";
    case Op::AllReduce: return "all_reduce";
    case Op::Broadcast: return "broadcast";
    case Op::Barrier: return "barrier";
  }
  return "unknown message";
}

struct Header {
  uint32_t magic;
  uint32_t op;
  uint64_t nbytes;
};
static_assert(sizeof(Header) == 16);

std::string errno_text(int e) { return std::system_category().message(e); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

double seconds_left(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

// Blocking send of all bytes; EINTR is retried, a closed peer is an error (no SIGPIPE).
// `what` names the collective in errors. A send that blocks past SO_SNDTIMEO (a peer that stopped
// reading) fails like a receive timeout.
void send_all(int fd, const void* data, size_t n, int self, int peer, const char* what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        fail(cat("rank ", self, ": rank ", peer, " stopped reading during ", what,
                 " (send timed out, IQA_COMM_TIMEOUT_S): did that rank hang or die?"));
      fail(cat("rank ", self, ": sending ", what, " to rank ", peer, " failed: ", errno_text(errno),
               " (did that rank exit or fail?)"));
    }
    p += k;
    n -= size_t(k);
  }
}

// Blocking receive of exactly n bytes. Returns false only on a receive timeout (SO_RCVTIMEO).
bool recv_all(int fd, void* data, size_t n, int self, int peer, const char* what) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      fail(cat("rank ", self, ": receiving ", what, " from rank ", peer, " failed: ", errno_text(errno)));
    }
    if (k == 0)
      fail(cat("rank ", self, ": rank ", peer, " closed the connection during ", what,
               " (did that rank exit or fail?)"));
    p += k;
    n -= size_t(k);
  }
  return true;
}

void send_msg(int fd, Op op, const void* data, size_t n, int self, int peer) {
  Header h{kMagic, uint32_t(op), uint64_t(n)};
  send_all(fd, &h, sizeof h, self, peer, op_name(uint32_t(op)));
  if (n) send_all(fd, data, n, self, peer, op_name(uint32_t(op)));
}

// Receives one message that must be `op` with exactly n payload bytes, waiting at most `timeout_s`
// for each chunk of it (the socket's SO_RCVTIMEO): a peer that died without closing its connection, or
// hangs, is an error naming it and the collective instead of a wait for ever.
void recv_msg(int fd, Op op, void* data, size_t n, int self, int peer, double timeout_s) {
  const char* what = op_name(uint32_t(op));
  auto timed_out = [&] {
    fail(cat("rank ", self, ": no ", what, " from rank ", peer, " within ", timeout_s,
             " s (IQA_COMM_TIMEOUT_S): that rank died, hangs, or is in another collective"));
  };
  Header h{};
  if (!recv_all(fd, &h, sizeof h, self, peer, what)) timed_out();
  IQA_CHECK(h.magic == kMagic, "rank ", self, ": garbage on the connection to rank ", peer,
            " (not an iqa.cu peer?)");
  IQA_CHECK(h.op == uint32_t(op) && h.nbytes == n, "rank ", self, " expected ", op_name(uint32_t(op)), " of ", n,
            " bytes from rank ", peer, " but got ", op_name(h.op), " of ", h.nbytes,
            " bytes: every rank must call the same collectives in the same order with the same sizes");
  if (n && !recv_all(fd, data, n, self, peer, what)) timed_out();
}

void set_timeout(int fd, int option, double seconds) {
  timeval tv{};
  if (seconds > 0) {
    tv.tv_sec = time_t(seconds);
    tv.tv_usec = suseconds_t((seconds - double(tv.tv_sec)) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1000;
  }
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}
void set_recv_timeout(int fd, double seconds) { set_timeout(fd, SO_RCVTIMEO, seconds); }
// After the handshake: every receive and send of a collective waits at most this long.
void set_collective_timeout(int fd, double seconds) {
  set_timeout(fd, SO_RCVTIMEO, seconds);
  set_timeout(fd, SO_SNDTIMEO, seconds);
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // collectives are latency-bound
}

struct Hello {
  int32_t rank;
  int32_t world_size;
};

// One non-blocking connect attempt to one address, bounded by `seconds`. Returns the connected socket
// or -1 with `error` set.
int try_connect(const addrinfo* ai, double seconds, std::string& error) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    error = errno_text(errno);
    return -1;
  }
  int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc < 0 && errno != EINPROGRESS) {
    error = errno_text(errno);
    close_fd(fd);
    return -1;
  }
  if (rc < 0) {
    pollfd pfd{fd, POLLOUT, 0};
    int pr;
    do pr = ::poll(&pfd, 1, std::max(1, int(seconds * 1000)));
    while (pr < 0 && errno == EINTR);
    if (pr <= 0) {
      error = pr == 0 ? "connect timed out" : errno_text(errno);
      close_fd(fd);
      return -1;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      error = errno_text(so_error);
      close_fd(fd);
      return -1;
    }
  }
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

}  // namespace

TcpGroup::TcpGroup(const LaunchInfo& info)
    : rank_(info.rank), world_size_(info.world_size), timeout_s_(info.collective_timeout_s) {
  IQA_CHECK(world_size_ >= 1 && rank_ >= 0 && rank_ < world_size_, "TcpGroup: rank ", rank_,
            " is not in a world of size ", world_size_);
  if (world_size_ == 1) return;
  IQA_CHECK(timeout_s_ > 0, "TcpGroup: the collective timeout must be positive, got ", timeout_s_, " s");
  IQA_CHECK(info.master_port >= 1 && info.master_port <= 65535, "TcpGroup: MASTER_PORT ", info.master_port,
            " is not a TCP port");
  try {
    if (rank_ == 0) accept_peers(info);
    else connect_to_root(info);
  } catch (...) {
    for (int& fd : peers_) close_fd(fd);  // the destructor does not run for a failed constructor
    throw;
  }
}

TcpGroup::~TcpGroup() {
  for (int& fd : peers_) close_fd(fd);
}

void TcpGroup::accept_peers(const LaunchInfo& info) {
  peers_.assign(size_t(world_size_), -1);
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IQA_CHECK(lfd >= 0, "rank 0: socket() failed: ", errno_text(errno));
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);  // MASTER_ADDR names this host for the others
  addr.sin_port = htons(uint16_t(info.master_port));
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(lfd, world_size_) < 0) {
    int e = errno;
    close_fd(lfd);
    fail(cat("rank 0 could not listen on port ", info.master_port, " (MASTER_PORT): ", errno_text(e)));
  }
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(info.timeout_s));
  int connected = 0;
  try {
    while (connected < world_size_ - 1) {
      double left = seconds_left(deadline);
      IQA_CHECK(left > 0, "rank 0: only ", connected, " of ", world_size_ - 1, " other ranks connected to ",
                info.master_addr, ":", info.master_port, " within ", info.timeout_s,
                " s (are all ranks started with the same MASTER_ADDR/MASTER_PORT and WORLD_SIZE?)");
      pollfd pfd{lfd, POLLIN, 0};
      int pr = ::poll(&pfd, 1, std::max(1, int(std::min(left, 1.0) * 1000)));
      if (pr < 0 && errno != EINTR) fail(cat("rank 0: poll on port ", info.master_port, ": ", errno_text(errno)));
      if (pr <= 0) continue;
      int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;  // the peer gave up between poll and accept; it will retry
      set_recv_timeout(fd, std::max(0.001, seconds_left(deadline)));
      Header h{};
      Hello hello{};
      bool ok = false;
      try {
        ok = recv_all(fd, &h, sizeof h, 0, -1, "handshake") && h.magic == kMagic && h.op == uint32_t(Op::Hello) &&
             h.nbytes == sizeof hello && recv_all(fd, &hello, sizeof hello, 0, -1, "handshake");
      } catch (const Error&) {
        ok = false;
      }
      if (!ok) {  // not one of ours (a port scanner, a stale client): drop it and keep waiting
        close_fd(fd);
        continue;
      }
      if (hello.world_size != world_size_ || hello.rank <= 0 || hello.rank >= world_size_ ||
          peers_[size_t(hello.rank)] >= 0) {
        close_fd(fd);
        fail(cat("rank 0: a peer connected as rank ", hello.rank, " of world size ", hello.world_size,
                 ", but this group has world size ", world_size_,
                 hello.rank > 0 && hello.rank < world_size_ ? " and that rank is already connected" : ""));
      }
      set_collective_timeout(fd, timeout_s_);
      set_nodelay(fd);
      peers_[size_t(hello.rank)] = fd;
      ++connected;
    }
  } catch (...) {
    close_fd(lfd);
    throw;
  }
  close_fd(lfd);
  Hello ack{0, world_size_};
  for (int r = 1; r < world_size_; ++r) send_msg(peers_[size_t(r)], Op::Hello, &ack, sizeof ack, 0, r);
}

void TcpGroup::connect_to_root(const LaunchInfo& info) {
  peers_.assign(1, -1);
  const std::string where = cat(info.master_addr, ":", info.master_port);
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(info.timeout_s));
  std::string last_error = "no attempt made";
  double backoff = 0.05;
  int fd = -1;
  while (fd < 0) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int gai = ::getaddrinfo(info.master_addr.c_str(), std::to_string(info.master_port).c_str(), &hints, &res);
    if (gai != 0) {
      last_error = cat("cannot resolve the address: ", gai_strerror(gai));
    } else {
      for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = try_connect(ai, std::clamp(seconds_left(deadline), 0.001, 5.0), last_error);
      ::freeaddrinfo(res);
    }
    if (fd >= 0) break;
    double left = seconds_left(deadline);
    IQA_CHECK(left > 0, "rank ", rank_, ": could not connect to rank 0 at ", where, " within ", info.timeout_s,
              " s (last error: ", last_error,
              "); check MASTER_ADDR/MASTER_PORT and that rank 0 is running");
    // Rank 0 may simply not be listening yet: back off and retry.
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(backoff, left)));
    backoff = std::min(backoff * 2, 1.0);
  }
  peers_[0] = fd;
  set_nodelay(fd);
  Hello hello{rank_, world_size_};
  send_msg(fd, Op::Hello, &hello, sizeof hello, rank_, 0);
  // Rank 0 acknowledges once every rank is in; a listener that is not rank 0 never does.
  set_recv_timeout(fd, std::max(0.001, seconds_left(deadline)));
  Header h{};
  Hello ack{};
  bool ok = recv_all(fd, &h, sizeof h, rank_, 0, "handshake");
  IQA_CHECK(ok, "rank ", rank_, ": connected to ", where, " but rank 0 did not complete the handshake within ",
            info.timeout_s, " s (are all ", world_size_, " ranks started?)");
  IQA_CHECK(h.magic == kMagic && h.op == uint32_t(Op::Hello) && h.nbytes == sizeof ack, "rank ", rank_,
            ": the server at ", where, " is not an iqa.cu rank 0");
  IQA_CHECK(recv_all(fd, &ack, sizeof ack, rank_, 0, "handshake"), "rank ", rank_, ": handshake with ", where, " timed out");
  IQA_CHECK(ack.world_size == world_size_, "rank ", rank_, ": rank 0 at ", where, " has world size ",
            ack.world_size, ", this rank has ", world_size_);
  set_collective_timeout(fd, timeout_s_);
}

void TcpGroup::broadcast(void* data, size_t nbytes, int root) {
  IQA_CHECK(root >= 0 && root < world_size_, "broadcast: root ", root, " is not a rank of a world of size ",
            world_size_);
  if (world_size_ == 1) return;
  if (rank_ == 0) {
    if (root != 0) recv_msg(peers_[size_t(root)], Op::Broadcast, data, nbytes, 0, root, timeout_s_);
    for (int r = 1; r < world_size_; ++r)
      if (r != root) send_msg(peers_[size_t(r)], Op::Broadcast, data, nbytes, 0, r);
  } else if (rank_ == root) {
    send_msg(peers_[0], Op::Broadcast, data, nbytes, rank_, 0);
  } else {
    recv_msg(peers_[0], Op::Broadcast, data, nbytes, rank_, 0, timeout_s_);
  }
}

template <class T>
void TcpGroup::all_reduce_sum_impl(T* data, size_t count) {
  if (world_size_ == 1) return;
  const size_t nbytes = count * sizeof(T);
  if (rank_ == 0) {
    // Sum in rank order (x0 + x1 + x2 ...), then hand the same bits to everyone.
    std::vector<T> incoming(count);
    for (int r = 1; r < world_size_; ++r) {
      recv_msg(peers_[size_t(r)], Op::AllReduce, incoming.data(), nbytes, 0, r, timeout_s_);
      for (size_t i = 0; i < count; ++i) data[i] += incoming[i];
    }
    for (int r = 1; r < world_size_; ++r) send_msg(peers_[size_t(r)], Op::AllReduce, data, nbytes, 0, r);
  } else {
    send_msg(peers_[0], Op::AllReduce, data, nbytes, rank_, 0);
    recv_msg(peers_[0], Op::AllReduce, data, nbytes, rank_, 0, timeout_s_);
  }
}

void TcpGroup::all_reduce_sum(float* data, size_t count) { all_reduce_sum_impl(data, count); }
void TcpGroup::all_reduce_sum(double* data, size_t count) { all_reduce_sum_impl(data, count); }

void TcpGroup::barrier() {
  if (world_size_ == 1) return;
  if (rank_ == 0) {
    for (int r = 1; r < world_size_; ++r) recv_msg(peers_[size_t(r)], Op::Barrier, nullptr, 0, 0, r, timeout_s_);
    for (int r = 1; r < world_size_; ++r) send_msg(peers_[size_t(r)], Op::Barrier, nullptr, 0, 0, r);
  } else {
    send_msg(peers_[0], Op::Barrier, nullptr, 0, rank_, 0);
    recv_msg(peers_[0], Op::Barrier, nullptr, 0, rank_, 0, timeout_s_);
  }
}

void TcpCommunicator::all_reduce_sum(Tensor& t) {
  IQA_CHECK(t.device().is_cpu() && t.is_contiguous(), "all_reduce_sum (TCP): needs a contiguous CPU tensor, got ",
            t.str());
  if (t.dtype() == DType::F32) group_.all_reduce_sum(t.data<float>(), size_t(t.numel()));
  else if (t.dtype() == DType::F64) group_.all_reduce_sum(t.data<double>(), size_t(t.numel()));
  else fail(cat("all_reduce_sum (TCP): CPU tensors are summed in f32 or f64, got ", t.str()));
}

void TcpCommunicator::broadcast(Tensor& t, int root) {
  IQA_CHECK(t.device().is_cpu() && t.is_contiguous(), "broadcast (TCP): needs a contiguous CPU tensor, got ",
            t.str());
  group_.broadcast(t.raw_data(), t.nbytes(), root);
}

int find_free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IQA_CHECK(fd >= 0, "find_free_tcp_port: socket() failed: ", errno_text(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  int e = errno;
  ::close(fd);
  IQA_CHECK(ok, "find_free_tcp_port: ", errno_text(e));
  return int(ntohs(addr.sin_port));
}

}  // namespace iqa::dist
