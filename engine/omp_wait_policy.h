// Passive OpenMP waits for every binary, unless the user chose otherwise.
//
// libgomp's default makes a thread that finished its share of a parallel loop spin for a while
// before it sleeps. On a machine with other work (the loader's threads, a second job, even processes
// at nice 19) a spinning thread that the kernel preempts holds up the whole team until it runs
// again, where a sleeping one is woken at once. Measured on 2 cores: the sind-train demo 8.7 img/s
// spinning against 70-100 img/s passive; engine-smoke beside nine nice-19 fuzzers 21.6 ms/step
// against 1.1. libgomp reads OMP_WAIT_POLICY once, as the library loads, before main runs; so a
// binary started without it sets it and executes itself again, once (the new image finds it set,
// and keeps its pid, arguments and the rest of its environment).
#pragma once
#include <unistd.h>

#include <cstdlib>

namespace iqa {

// Call first in main. Returns (doing nothing) when OMP_WAIT_POLICY is set and not empty, or when the
// re-execution fails (no /proc): then libgomp's default stays.
inline void use_passive_omp_waits(char** argv) {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if (policy != nullptr && *policy != '\0') return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::execv("/proc/self/exe", argv);
  ::unsetenv("OMP_WAIT_POLICY");  // still this image: libgomp runs with its default
}

// The policy this process's libgomp read ("default" when none was set).
inline const char* omp_wait_policy_name() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  return policy != nullptr && *policy != '\0' ? policy : "default";
}

}  // namespace iqa
