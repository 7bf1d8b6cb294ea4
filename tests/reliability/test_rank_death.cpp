// A rank dies: the other ranks end with an error naming the dead rank and the collective instead of
// holding the allocation. A killed process closes its sockets, so its peers fail at once (sind-train,
// two TCP ranks, rank 1 SIGKILLed after its first step); a rank that hangs or whose host vanished
// sends nothing, so its peers fail after IQA_COMM_TIMEOUT_S (two TcpGroups in threads, one silent).
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <future>
#include <thread>

#include "engine/comm_tcp.h"
#include "tests/reliability/tiny_run.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

dist::LaunchInfo rank_info(int rank, int port, double collective_timeout_s) {
  return {.rank = rank, .world_size = 2, .master_port = port, .timeout_s = 30,
          .collective_timeout_s = collective_timeout_s};
}

// Rank `waiting` calls a collective the other rank never joins (it stays connected, silent); returns
// the error and how long it took to come.
std::pair<std::string, double> silent_peer(int waiting, bool barrier) {
  const int port = dist::find_free_tcp_port();
  std::promise<void> done;
  std::thread silent([&, port] {
    dist::TcpGroup g(rank_info(1 - waiting, port, 30));
    done.get_future().wait();  // connected and mute until the other rank has given up
  });
  dist::TcpGroup g(rank_info(waiting, port, 0.5));
  const auto start = std::chrono::steady_clock::now();
  std::string error;
  try {
    float x[4] = {1, 2, 3, 4};
    if (barrier) g.barrier();
    else g.all_reduce_sum(x, 4);
  } catch (const Error& e) {
    error = e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done.set_value();
  silent.join();
  return {error, seconds};
}

}  // namespace

TEST_CASE("rank death: a silent rank fails the collective after the timeout naming it", "[reliability][comm]") {
  const auto [e0, s0] = silent_peer(0, false);
  CHECK(e0 == "rank 0: no all_reduce from rank 1 within 0.5 s (IQA_COMM_TIMEOUT_S): that rank died, hangs, or is in "
              "another collective");
  CHECK(s0 >= 0.45);
  CHECK(s0 < 5);
  const auto [e1, s1] = silent_peer(1, true);
  CHECK_THAT(e1, Catch::StartsWith("rank 1: no barrier from rank 0 within 0.5 s"));
  CHECK(s1 < 5);
}

TEST_CASE("rank death: sind-train rank 0 exits naming rank 1 when rank 1 is killed mid-step",
          "[reliability][comm][train]") {
  const TinyRun tiny("iqa_test_rank_death");
  const RankProcesses p = start_ranks(tiny, 2, tiny.args((tiny.root / "run").string()), "death", [](int r) {
    return std::map<std::string, std::string>{{"IQA_KILL_AT", r == 1 ? "step:1" : ""}};
  });
  const ChildResult r1 = wait_child(p.pids[1], p.logs[1], 120);
  const ChildResult r0 = wait_child(p.pids[0], p.logs[0], 60);  // far below the 600 s collective timeout
  INFO("rank 0:\n" << r0.output << "\nrank 1:\n" << r1.output);
  CHECK(r1.signal == SIGKILL);
  CHECK_FALSE(r0.timed_out);
  CHECK(r0.exit_code == 1);
  CHECK_THAT(r0.output, Catch::Contains("rank 0: rank 1 closed the connection during all_reduce"));
}

TEST_CASE("rank death: IQA_COMM_TIMEOUT_S sets the collective timeout", "[reliability][comm]") {
  CHECK(dist::detect_launch().collective_timeout_s == 600);
  ::setenv("IQA_COMM_TIMEOUT_S", "2.5", 1);
  CHECK(dist::detect_launch().collective_timeout_s == 2.5);
  ::setenv("IQA_COMM_TIMEOUT_S", "soon", 1);
  CHECK_THROWS_WITH(dist::detect_launch(),
                    "environment variable IQA_COMM_TIMEOUT_S='soon' is not a positive number of seconds");
  ::unsetenv("IQA_COMM_TIMEOUT_S");
}
