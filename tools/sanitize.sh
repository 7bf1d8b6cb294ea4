#!/usr/bin/env bash
# Builds the CPU library and iqa_tests with AddressSanitizer + UndefinedBehaviorSanitizer (g++, every
# check fatal, leak detection on) in a build folder of its own and runs tests through ctest. Any
# sanitizer report, leak or failing test makes it exit non-zero.
#
#   tools/sanitize.sh              the CI subset: the test specs in tests/sanitize_subset.txt
#   tools/sanitize.sh REGEX        the tests whose ctest names match REGEX (ctest -R); "." = all
#
# Environment: SAN_BUILD (default build-san, relative to the repository root), JOBS (default nproc),
# SAN_REFERENCE_TESTS: an ordinary iqa_tests built from the same sources (CI passes build/'s); with it
# the subset run compiles only the test files that hold a subset test (about half of them).
# The ccache launcher is used when ccache is on PATH (CCACHE_BASEDIR/CCACHE_DIR are honoured).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SAN_BUILD:-build-san}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
SUBSET_FILE="$ROOT/tests/sanitize_subset.txt"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
start=$(date +%s)

SUBSET_SPECS=$(grep -vE '^\s*(#|$)' "$SUBSET_FILE" | sed -E 's/\s+$//' | paste -sd, -)
# Test files with no test of the subset (asked of the reference binary, so never out of date) are
# left out of this build: a regex for CMake's IQA_TEST_SOURCES_EXCLUDE, empty when all are built.
exclude=""
reference_count=""
if [ $# -eq 0 ] && [ -x "${SAN_REFERENCE_TESTS:-}" ]; then
  # Catch2's listings exit with the number of tests listed, hence the "|| true".
  listing=$("$SAN_REFERENCE_TESTS" "$SUBSET_SPECS" --list-tests --verbosity high || true)
  used=$(grep -oE 'tests/[^: ]+\.cpp' <<<"$listing" | sort -u)
  reference_count=$({ "$SAN_REFERENCE_TESTS" "$SUBSET_SPECS" --list-test-names-only || true; } | grep -c .)
  exclude=$(cd "$ROOT" && grep -l 'TEST_CASE' tests/*.cpp tests/*/*.cpp | grep -v '^tests/fuzz/' |
            grep -vxF -f <(printf '%s\n' "$used") | sed -E 's/[.]/[.]/g; s|^|/|; s/$/$/' | paste -sd'|' -)
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O1 -g1: the build is most of this script's time (CI runs it on 2 cores); -O1 with line tables
# compiles faster than -O2 -g, and the reports still name file:line.
cmake -S "$ROOT" -B "$BUILD" -DIQA_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_EXE_LINKER_FLAGS="$SAN" -DIQA_TEST_SOURCES_EXCLUDE="$exclude" \
  "${launcher[@]}" >/dev/null
# Only the test binary and the binaries the reliability tests run as children (sanitized too: the
# bad-input table runs every tool and iqa-bench); nothing else ctest does not run.
cmake --build "$BUILD" --target iqa_tests sind-train sind-score make-splits dsmix-train iqa-distort iqa-scenes loader-bench engine-smoke iqa-bench -j"$JOBS"
built=$(date +%s)

# Every report is fatal; leaks are reported at exit (and fail the test that leaked).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

if [ $# -ge 1 ]; then
  regex="$1"
else
  # The subset file holds Catch2 test specs, one a line (a line's tags AND together, lines OR);
  # Catch2 resolves them to test names, which become one anchored, escaped ctest regex.
  mapfile -t names < <("$BUILD/iqa_tests" --list-test-names-only "$SUBSET_SPECS" | sed -E '/^\s*$/d')
  [ ${#names[@]} -gt 0 ] || { echo "error: $SUBSET_FILE selects no tests" >&2; exit 1; }
  [ -z "$reference_count" ] || [ "$reference_count" -eq ${#names[@]} ] ||
    { echo "error: $SAN_REFERENCE_TESTS selects $reference_count subset tests, this build ${#names[@]}" >&2; exit 1; }
  # No name holds a ';' (tools/check_test_names.sh, a house test), so each is one ctest test.
  regex=$(printf '%s\n' "${names[@]}" | sed -E 's/[][\\.^$*+?(){}|]/\\&/g; s/^/^/; s/$/$/' | paste -sd'|' -)
  echo "== sanitize: ${#names[@]} tests from $(basename "$SUBSET_FILE")"
fi

status=0
ctest --test-dir "$BUILD" -R "$regex" -j"$JOBS" --timeout 1800 --output-on-failure || status=$?
end=$(date +%s)
echo "== sanitize: build $((built - start)) s, tests $((end - built)) s, total $((end - start)) s, exit $status"
exit $status
