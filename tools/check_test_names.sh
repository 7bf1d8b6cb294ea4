#!/usr/bin/env bash
# House rule as a test: no Catch2 test name holds a ';'. catch_discover_tests cuts a name at its
# first ';' (CMake's list separator), and ctest's test of the cut name runs no case at all and
# passes, so such a test silently never runs in the suite.
# Usage: tools/check_test_names.sh path/to/iqa_tests
set -euo pipefail
bad=$("$1" --list-test-names-only | grep ';' || true)
if [ -n "$bad" ]; then
  echo "test names with ';' (ctest would run none of them):"
  echo "$bad"
  exit 1
fi
echo "ok: no test name holds ';'"
