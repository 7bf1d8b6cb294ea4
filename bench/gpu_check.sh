#!/usr/bin/env bash
# One command for a machine with a GPU: configure, build, run the [cuda] tests, iqa-bench and the
# PyTorch peer, and print a side-by-side table last.
#
#   bench/gpu_check.sh [build-dir]        (default build-gpu)
#
# PHASES (default "build tests bench apps") picks what runs, so the work can be split over two calls
# of a time-limited machine (e.g. PHASES="build tests" then PHASES="bench apps"; the build folder is
# reused). apps: loader-bench over 1..16 workers, and sind-train's and dsmix-train's demos on the GPU
# (bf16), each timed.
#
# The GPU machine may have no network and no Debian -dev packages: run `tools/setup.sh --deps-only`
# beforehand on a networked machine and bring .deps/ along; it is used when present. cuDNN and NCCL
# are taken from the system, else from the nvidia-* Python wheels next to PyTorch.
# Environment: CUDA_ARCHS (default 90), BENCH_REPS (default 100), LOG_DIR (also copy the logs there).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${1:-build-gpu}"
LOGS="$BUILD/gpu_check"
CUDA_ARCHS="${CUDA_ARCHS:-90}"
BENCH_REPS="${BENCH_REPS:-100}"
PHASES="${PHASES:-build tests bench apps}"
status=0
want() { [[ " $PHASES " == *" $1 "* ]]; }

say() { echo "== gpu_check: $*"; }

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
say "machine"
nvidia-smi -L 2>&1 | head -4
nvcc --version 2>&1 | tail -1
cmake --version | head -1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1

# ---- dependencies --------------------------------------------------------------------------------
cmake_args=(-S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS" -DIQA_CUDA=ON)
lib_dirs=()
if [ -d .deps/usr ]; then
  cmake_args+=(-DCMAKE_PREFIX_PATH="$ROOT/.deps/usr")
  lib_dirs+=("$ROOT/.deps/usr/lib/x86_64-linux-gnu")
  # jconfig.h sits in the multiarch folder, which FindJPEG does not add; the compiler only looks in
  # the system's own.
  export CPATH="$ROOT/.deps/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
fi
command -v ninja >/dev/null 2>&1 && cmake_args+=(-G Ninja)

# Prints the first file named like $1 under the given folders.
first_match() {
  local pattern="$1" d hit
  shift
  for d in "$@"; do
    [ -d "$d" ] || continue
    hit="$(find -L "$d" -name "$pattern" -print -quit 2>/dev/null)"
    if [ -n "$hit" ]; then echo "$hit"; return 0; fi
  done
  return 1
}
system_dirs=(/usr/local/cuda/include /usr/local/cuda/lib64 /usr/include /usr/lib/x86_64-linux-gnu)
wheel_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)/nvidia"
for lib in cudnn nccl; do
  upper="$(echo "$lib" | tr a-z A-Z)"
  if first_match "$lib.h" "${system_dirs[@]}" >/dev/null && first_match "lib$lib.so" "${system_dirs[@]}" >/dev/null; then
    say "$lib from the system"
    continue
  fi
  header="$(first_match "$lib.h" "$wheel_dir")"
  library="$(first_match "lib$lib.so*" "$wheel_dir")"
  if [ -n "$header" ] && [ -n "$library" ]; then
    say "$lib from the Python wheel: $library"
    cmake_args+=(-D"${upper}_INCLUDE_DIR=$(dirname "$header")" -D"${upper}_LIBRARY=$library")
    lib_dirs+=("$(dirname "$library")")
  else
    say "$lib not found in the system or in $wheel_dir; configure will say what is missing"
  fi
done
# cuDNN loads its engine libraries with dlopen, which the executables' RUNPATH does not cover.
if [ "${#lib_dirs[@]}" -gt 0 ]; then
  LD_LIBRARY_PATH="$(IFS=:; echo "${lib_dirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi

# ---- build ---------------------------------------------------------------------------------------
mkdir -p "$LOGS"
if want build; then
say "configure and build ($BUILD, sm_$CUDA_ARCHS)"
if ! cmake "${cmake_args[@]}" >"$LOGS/configure.log" 2>&1; then
  tail -40 "$LOGS/configure.log"
  say "configure FAILED"
  exit 1
fi
grep "iqa.cu:" "$LOGS/configure.log"
if ! cmake --build "$BUILD" -j "$(nproc)" --target iqa_tests iqa-bench loader-bench sind-train dsmix-train \
  >"$LOGS/build.log" 2>&1; then
  grep -E "error|Error" "$LOGS/build.log" | head -40
  say "build FAILED"
  exit 1
fi
fi

# ---- tests and benchmarks ------------------------------------------------------------------------
if want tests; then
say "[cuda] tests"
"$BUILD/iqa_tests" "[cuda]" 2>&1 | tee "$LOGS/tests.log" | tail -25
[ "${PIPESTATUS[0]}" -eq 0 ] || { status=1; say "[cuda] tests FAILED (see $LOGS/tests.log)"; }
fi

if want bench; then
say "iqa-bench"
"$BUILD/iqa-bench" --device cuda --reps "$BENCH_REPS" 2>&1 | tee "$LOGS/iqa_bench.log" | grep -v '^{'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

say "torch peer"
python3 bench/torch_peer.py --device cuda --reps "$BENCH_REPS" 2>&1 | tee "$LOGS/torch_peer.log" | grep -v '^{'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

if [ -n "${LOG_DIR:-}" ]; then mkdir -p "$LOG_DIR" && cp "$LOGS"/*.log "$LOG_DIR"/; fi
say "side by side (speed = torch time / ours; %copy = share of our copy_large bandwidth)"
python3 bench/compare.py "$LOGS/iqa_bench.log" "$LOGS/torch_peer.log"
fi

if want apps; then
say "loader-bench (CPU decode + views; the host's cores)"
"$BUILD/loader-bench" --workers 1,2,4,8,16 2>&1 | tee "$LOGS/loader_bench.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
for app in sind-train dsmix-train; do
  say "$app --demo on the GPU (bf16)"
  dir="$(mktemp -d)"
  start=$(date +%s)
  "$BUILD/$app" --demo --device cuda --precision bf16 --project_dir "$dir" 2>&1 | tee "$LOGS/${app}_demo.log" |
    grep -v -E '^\s*$' | tail -15
  [ "${PIPESTATUS[0]}" -eq 0 ] || { status=1; say "$app --demo FAILED"; }
  say "$app --demo took $(( $(date +%s) - start )) s"
  rm -rf "$dir"
done
fi
if [ -n "${LOG_DIR:-}" ]; then mkdir -p "$LOG_DIR" && cp "$LOGS"/*.log "$LOG_DIR"/; fi
exit "$status"
