// IQA_CUDA_SYNC_CHECK=1, for debugging: every kernel launch and every cuBLAS/cuDNN call waits for the
// device and checks it, so an asynchronous fault (a bad address, a trap) is reported at the launch that
// caused it instead of at the next synchronisation. It serialises host and device: never for timing.
// Host-only, so the switch itself is tested on the CPU (tests/test_kernel_checks.cpp).
#pragma once
#include <cstdlib>

namespace iqa::kernels {

// What a value of IQA_CUDA_SYNC_CHECK means: on for any non-empty value except "0"; off when unset.
inline bool sync_check_value_enabled(const char* value) {
  return value != nullptr && value[0] != '\0' && !(value[0] == '0' && value[1] == '\0');
}

// Read once per process: flipping the variable mid-run is not supported.
inline bool sync_check_enabled() {
  static const bool enabled = sync_check_value_enabled(std::getenv("IQA_CUDA_SYNC_CHECK"));
  return enabled;
}

}  // namespace iqa::kernels
