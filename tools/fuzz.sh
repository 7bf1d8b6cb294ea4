#!/usr/bin/env bash
# Builds the libFuzzer binary of tests/fuzz/fuzz_main.cpp (every target of tests/fuzz/target_table.h,
# bodies in tests/fuzz/targets*.h) with clang, AddressSanitizer + UndefinedBehaviorSanitizer, and runs
# each target for a while.
#
#   tools/fuzz.sh [SECONDS per target, default 60] [target ...]   by hand; corpora keep growing
#   tools/fuzz.sh --ci [SECONDS, default 20] [target ...]          CI: fresh corpora from the seeds
#   targets: names from tests/fuzz/target_table.h, with or without the fuzz_ prefix (default: all);
#   xlsx and mat are skipped where the library was configured without libzip+libexpat / libmatio
#
# A crash, a sanitizer report, a leak, a timeout (-timeout, 10 s per input) or running out of memory
# (-rss_limit_mb) fails the target and the script (non-zero exit); each crash input is printed as hex,
# ready to commit as tests/fuzz/regressions/<target>/<name> (replayed by every run first, and by
# the ordinary test suite, tests/test_fuzz_regressions.cpp).
# Exit status: 0 clean, 1 a finding or a build failure, 3 libFuzzer is not available.
# Environment: FUZZ_BUILD (default /tmp/iqa-fuzz-build) holds the instrumented library, the binaries,
# corpora and crash inputs, so reruns are incremental. CXX (default clang++).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI=0
[ "${1:-}" = "--ci" ] && { CI=1; shift; }
SECONDS_PER_TARGET="${1:-$([ $CI = 1 ] && echo 20 || echo 60)}"
shift || true
TARGETS=("$@")
BUILD="${FUZZ_BUILD:-/tmp/iqa-fuzz-build}"
CXX="${CXX:-clang++}"
JOBS="$(nproc 2>/dev/null || echo 2)"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
start=$(date +%s)

# Exit 3 (not 1) when clang or libFuzzer is missing, so CI can tell "cannot fuzz here" from a finding.
command -v "$CXX" >/dev/null || { echo "error: $CXX not found (libFuzzer needs clang)" >&2; exit 3; }
mkdir -p "$BUILD"
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$BUILD/probe.cpp"
"$CXX" -fsanitize=fuzzer,address "$BUILD/probe.cpp" -o "$BUILD/probe" 2>/dev/null ||
  { echo "error: $CXX cannot link -fsanitize=fuzzer (libFuzzer missing)" >&2; exit 3; }

# 1. The library, CPU-only, every object instrumented for coverage (fuzzer-no-link) and sanitizers.
#    make -k keeps going past files that do not build (another module mid-change): the archive below
#    takes whatever compiled, and a target only fails to link if it needs a missing object.
mkdir -p "$BUILD/lib"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O1 -g1 (as tools/sanitize.sh): about half the compile time of -O2 -g, and parsers need no more.
cmake -S "$ROOT" -B "$BUILD/lib" -DIQA_CUDA=OFF -DIQA_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="$SAN -fsanitize=fuzzer-no-link" "${launcher[@]}" >/dev/null
make -C "$BUILD/lib" -k -j"$JOBS" iqa >"$BUILD/lib/make.log" 2>&1 || \
  echo "note: some library files did not compile (see $BUILD/lib/make.log); linking with the rest"
rm -f "$BUILD/libiqa_fuzz.a"
find "$BUILD/lib/CMakeFiles/iqa.dir" -name '*.o' -print0 | xargs -0 ar rcs "$BUILD/libiqa_fuzz.a"

LIBS=("$BUILD/libiqa_fuzz.a" -ljpeg -lpng -ltiff -lz -lopenjp2 -fopenmp -lpthread)
[ -f /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so ] &&
  LIBS+=(-L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp)
flags_make="$BUILD/lib/CMakeFiles/iqa.dir/flags.make"
grep -q IQA_WITH_OPENBLAS "$flags_make" 2>/dev/null && LIBS+=(-lopenblas)
# The .xlsx and .mat readers are optional at configure time (CMakeLists.txt); so are their targets.
have_xlsx=0 have_mat=0
grep -q IQA_HAVE_XLSX "$flags_make" && { have_xlsx=1; LIBS+=(-lzip -lexpat); }
grep -q IQA_HAVE_MATIO "$flags_make" && { have_mat=1; LIBS+=(-lmatio); }
INC=(-I"$ROOT" -I/usr/include/openjpeg-2.5)
[ -f /usr/include/openjpeg-2.5/openjpeg.h ] || INC=(-I"$ROOT")
FLAGS=(-std=c++20 -O1 -g $SAN "${INC[@]}")

# 2. The fuzz binary and the seed writer, side by side (each compiles every target's code).
"$CXX" "${FLAGS[@]}" -fsanitize=fuzzer "$ROOT/tests/fuzz/fuzz_main.cpp" "${LIBS[@]}" -o "$BUILD/fuzz_main" &
fuzz_main_build=$!
"$CXX" "${FLAGS[@]}" "$ROOT/tests/fuzz/make_seeds.cpp" "${LIBS[@]}" -o "$BUILD/make_seeds"
wait "$fuzz_main_build"
built=$(date +%s)

# 3. Seed corpora from small valid files (tests/fuzz/seeds.h): one folder per target.
rm -rf "$BUILD/seeds"
"$BUILD/make_seeds" "$BUILD/seeds" "$ROOT"
if [ ${#TARGETS[@]} -eq 0 ]; then
  for d in "$BUILD/seeds"/*/; do TARGETS+=("$(basename "$d")"); done
fi

# Prints every crash input of a target as hex, with the line to commit it as a regression.
print_crashes() {
  local dir="$1" target="$2" f
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    echo "-- crash input $(basename "$f") ($(stat -c %s "$f") bytes), hex:"
    od -An -v -tx1 "$f" | tr -d ' \n' | fold -w 128; echo
    echo "-- commit it: xxd -r -p > tests/fuzz/regressions/$target/$(basename "$f") <<< '<hex above>'"
  done
}

status=0
for name in "${TARGETS[@]}"; do
  name="${name#fuzz_}"
  target="fuzz_$name"  # the regression folder's and the logs' name
  [ -d "$BUILD/seeds/$name" ] || { echo "error: no such target $name (see tests/fuzz/target_table.h)" >&2; exit 1; }
  if { [ "$target" = fuzz_xlsx ] && [ $have_xlsx = 0 ]; } || { [ "$target" = fuzz_mat ] && [ $have_mat = 0 ]; }; then
    echo "skip: $target (the library was configured without its reader: libzip-dev + libexpat1-dev, libmatio-dev)"
    continue
  fi
  export IQA_FUZZ_TARGET="$name"
  seed_dir="$BUILD/seeds/$name"
  corpus="$BUILD/corpus/$target"
  crashes="$BUILD/crashes/$target"
  [ $CI = 1 ] && rm -rf "$corpus" "$crashes"
  mkdir -p "$corpus" "$crashes"
  regressions="$ROOT/tests/fuzz/regressions/$target"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "== $target: replaying $(ls "$regressions" | wc -l) regression inputs"
    "$BUILD/fuzz_main" "$regressions"/* >/dev/null 2>"$BUILD/$target.regressions.log" || {
      echo "FAIL: $target crashes on a regression input (see $BUILD/$target.regressions.log)"
      tail -n 30 "$BUILD/$target.regressions.log"; status=1; continue; }
  fi
  echo "== $target: fuzzing for ${SECONDS_PER_TARGET} s"
  # -rss_limit_mb guards against inputs that make a parser allocate without bound; -timeout flags hangs.
  if ! (cd "$crashes" && "$BUILD/fuzz_main" "$corpus" "$seed_dir" -max_total_time="$SECONDS_PER_TARGET" \
        -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 \
        >"$BUILD/$target.log" 2>&1); then
    echo "FAIL: $target found a crash, leak or timeout; inputs in $crashes, log $BUILD/$target.log"
    tail -n 40 "$BUILD/$target.log"
    print_crashes "$crashes" "$target"
    status=1
  else
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$BUILD/$target.log" | tail -n 1)
    echo "ok: $target, ${execs:-?} executions in ${SECONDS_PER_TARGET} s, corpus $(ls "$corpus" | wc -l) inputs"
  fi
done
end=$(date +%s)
echo "== fuzz: build $((built - start)) s, seeds and targets $((end - built)) s, total $((end - start)) s, exit $status"
exit $status
