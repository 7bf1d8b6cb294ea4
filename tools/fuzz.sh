#!/usr/bin/env bash
# Builds the libFuzzer binary of tests/fuzz/fuzz_main.cpp (every target of tests/fuzz/target_table.h,
# bodies in tests/fuzz/targets*.h) with clang, AddressSanitizer + UndefinedBehaviorSanitizer, and runs
# each target for a while.
#
#   tools/fuzz.sh [SECONDS per target, default 60] [target ...]   by hand; corpora keep growing
#   tools/fuzz.sh --ci [SECONDS, default 20] [target ...]          CI: fresh corpora from the seeds
#   --parallel N (first): N targets at a time (the hour-long runs by hand: one per core); each
#   target's line gives its executions, wall and CPU seconds, and the summary lists them all
#   targets: names from tests/fuzz/target_table.h, with or without the fuzz_ prefix (default: all);
#   xlsx and mat are skipped where the library was configured without libzip+libexpat / libmatio
#
# A crash, a sanitizer report, a leak, a timeout (-timeout, FUZZ_TIMEOUT s per input) or running out of memory
# (-rss_limit_mb) fails the target and the script (non-zero exit); each crash input is printed as hex,
# ready to commit as tests/fuzz/regressions/<target>/<name> (replayed by every run first, and by
# the ordinary test suite, tests/test_fuzz_regressions.cpp).
# Exit status: 0 clean, 1 a finding or a build failure, 3 libFuzzer is not available.
# Environment: FUZZ_BUILD (default /tmp/iqa-fuzz-build) holds the instrumented library, the binaries,
# corpora and crash inputs, so reruns are incremental. CXX (default clang++). FUZZ_TIMEOUT (default
# 10): seconds one input may take; runs by hand beside other work use 60, since the limit is wall-clock
# and a fuzzer at nice 19 can be starved that long while the machine compiles.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI=0 PARALLEL=1
[ "${1:-}" = "--parallel" ] && { PARALLEL="${2:?--parallel needs a number}"; shift 2; }
[ "${1:-}" = "--ci" ] && { CI=1; shift; }
SECONDS_PER_TARGET="${1:-$([ $CI = 1 ] && echo 20 || echo 60)}"
shift || true
TARGETS=("$@")
BUILD="${FUZZ_BUILD:-/tmp/iqa-fuzz-build}"
CXX="${CXX:-clang++}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
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

# Fuzzes one target; its report goes to $BUILD/<target>.report, its exit status is 0 clean, 1 a finding.
run_target() {
  local name="${1#fuzz_}"
  local target="fuzz_$name"  # the regression folder's and the logs' name
  local report="$BUILD/$target.report"
  : >"$report"
  if { [ "$target" = fuzz_xlsx ] && [ $have_xlsx = 0 ]; } || { [ "$target" = fuzz_mat ] && [ $have_mat = 0 ]; }; then
    echo "skip: $target (the library was configured without its reader: libzip-dev + libexpat1-dev, libmatio-dev)" >>"$report"
    return 0
  fi
  export IQA_FUZZ_TARGET="$name"
  local seed_dir="$BUILD/seeds/$name" corpus="$BUILD/corpus/$target" crashes="$BUILD/crashes/$target"
  [ $CI = 1 ] && rm -rf "$corpus" "$crashes"
  mkdir -p "$corpus" "$crashes"
  local regressions="$ROOT/tests/fuzz/regressions/$target"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "== $target: replaying $(ls "$regressions" | wc -l) regression inputs" >>"$report"
    "$BUILD/fuzz_main" "$regressions"/* >/dev/null 2>"$BUILD/$target.regressions.log" || {
      { echo "FAIL: $target crashes on a regression input (see $BUILD/$target.regressions.log)"
        tail -n 30 "$BUILD/$target.regressions.log"; } >>"$report"
      return 1; }
  fi
  echo "== $target: fuzzing for ${SECONDS_PER_TARGET} s" >>"$report"
  # -rss_limit_mb guards against inputs that make a parser allocate without bound; -timeout flags hangs
  # (wall-clock: a fuzzer stopped with SIGSTOP reports its current input as a timeout when resumed).
  local t0 rc=0 TIMEFORMAT='%U %S'  # bash's time: the fuzzer's user and system CPU seconds
  t0=$(date +%s)
  { time (cd "$crashes" && "$BUILD/fuzz_main" "$corpus" "$seed_dir" -max_total_time="$SECONDS_PER_TARGET" \
        -rss_limit_mb=2048 -timeout="$TIMEOUT" -max_len=65536 -print_final_stats=1 \
        >"$BUILD/$target.log" 2>&1); } 2>"$BUILD/$target.cpu" || rc=$?
  local wall=$(( $(date +%s) - t0 )) cpu
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$BUILD/$target.cpu" 2>/dev/null || echo "?")
  if [ $rc -ne 0 ]; then
    { echo "FAIL: $target found a crash, leak or timeout; inputs in $crashes, log $BUILD/$target.log"
      tail -n 40 "$BUILD/$target.log"
      print_crashes "$crashes" "$target"; } >>"$report"
    return 1
  fi
  local execs
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$BUILD/$target.log" | tail -n 1)
  echo "ok: $target, ${execs:-?} executions in $wall s wall ($cpu CPU-s), corpus $(ls "$corpus" | wc -l) inputs" >>"$report"
}

status=0
running=0
for name in "${TARGETS[@]}"; do
  [ -d "$BUILD/seeds/${name#fuzz_}" ] || { echo "error: no such target ${name#fuzz_} (see tests/fuzz/target_table.h)" >&2; exit 1; }
done
for name in "${TARGETS[@]}"; do
  if [ "$PARALLEL" -le 1 ]; then
    run_target "$name" || status=1
    cat "$BUILD/fuzz_${name#fuzz_}.report"
    continue
  fi
  # A pool of PARALLEL targets: each runs in a subshell; reports are printed as targets end.
  if [ $running -ge "$PARALLEL" ]; then wait -n || status=1; running=$((running - 1)); fi
  run_target "$name" &
  running=$((running + 1))
done
while [ $running -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
if [ "$PARALLEL" -gt 1 ]; then
  for name in "${TARGETS[@]}"; do cat "$BUILD/fuzz_${name#fuzz_}.report"; done
fi
end=$(date +%s)
echo "== fuzz: build $((built - start)) s, seeds and targets $((end - built)) s, total $((end - start)) s, exit $status"
exit $status
