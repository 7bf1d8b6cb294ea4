// The NCCL watchdog (engine/cuda/comm_nccl.cpp) on a machine with one GPU. NCCL refuses two ranks on
// one device, so a dead peer cannot be staged here; what a dead peer does to the survivor can: its
// collective is enqueued and never completes. The child below holds its stream behind a host function
// that sleeps far past IQA_COMM_TIMEOUT_S, enqueues an all_reduce and waits; the watchdog must notice
// the event that never fires, say which collective waited, abort the communicator and end the process
// with status 1, as it does when a peer's NCCL kernel never arrives. (The real two-GPU case, one rank
// SIGKILLed mid-run, is bench/gpu_check.sh's "nccl" phase.)
#include <unistd.h>

#include <filesystem>

#include "engine/comm.h"
#include "engine/comm_tcp.h"
#include "tests/reliability/child_process.h"
#include "tests/testing.h"

#ifdef IQA_WITH_CUDA
#include <cuda_runtime.h>
#endif

using namespace iqa;
using namespace iqa::testing;

namespace {
constexpr double kTimeoutS = 2;       // the child's IQA_COMM_TIMEOUT_S
constexpr unsigned kStallS = 20;      // how long its stream is held: ten timeouts
}  // namespace

// Run only as the child of the case below (hidden tag: never part of the suite by itself).
TEST_CASE("NCCL watchdog child: all_reduce behind a stalled stream", "[.nccl-watchdog-child]") {
#ifdef IQA_WITH_CUDA
  IQA_REQUIRE_CUDA_OR_SKIP();
  dist::LaunchInfo li;
  li.master_port = dist::find_free_tcp_port();
  li.collective_timeout_s = kTimeoutS;
  auto comm = dist::detail::create_nccl_communicator(li, cuda_device(0));
  Tensor t = Tensor::ones({1024}, DType::F32, cuda_device(0));
  REQUIRE(cudaLaunchHostFunc(cuda::current_stream(), [](void*) { ::sleep(kStallS); }, nullptr) == cudaSuccess);
  comm->all_reduce_sum(t);
  cuda::synchronize();  // the watchdog ends the process long before this returns
  FAIL("the stalled all_reduce completed: the watchdog did not fire");
#endif
}

TEST_CASE("NCCL watchdog: a collective that never completes aborts the communicator and exits naming it",
          "[comm][cuda][reliability]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  const std::string log = (std::filesystem::temp_directory_path() /
                           ("iqa_nccl_watchdog_" + std::to_string(::getpid()) + ".log")).string();
  ChildOptions o;
  o.log = log;
  o.env = {{"NCCL_DEBUG", "WARN"}};
  const ChildResult r = wait_child(
      start_child({std::filesystem::read_symlink("/proc/self/exe").string(), "[.nccl-watchdog-child]"}, o), log, kStallS + 30);
  INFO("child output:\n" << r.output);
  WARN("watchdog child ended after " << r.seconds << " s (timeout " << kTimeoutS << " s, stream held "
                                       << kStallS << " s), exit " << r.exit_code << ", signal " << r.signal);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("error: rank 0: NCCL all_reduce did not complete within 2 s (timed out, "
                                       "IQA_COMM_TIMEOUT_S)"));
  // The message comes after about one timeout; the exit waits at most for the host function if
  // ncclCommAbort synchronises the device (it should not), so it is bounded by the stall.
  CHECK(r.seconds < kStallS + 5);
  std::filesystem::remove(log);
}
