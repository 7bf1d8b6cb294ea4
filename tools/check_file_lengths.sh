#!/usr/bin/env bash
# The house's size rule, checked: no source file (.h, .cpp, .cu, .cuh, .py, .sh) the checkout tracks
# runs over 450 lines. Prints each longer one with its count and exits 1 when there is one.
#   tools/check_file_lengths.sh [repository root] [limit]   (defaults: this checkout, 450)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
limit=${2:-450}
cd "$root"
over=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
  n=$(wc -l < "$f")
  if [ "$n" -gt "$limit" ]; then
    echo "$f: $n lines (over $limit)"
    over=1
  fi
done < <(git ls-files --cached --others --exclude-standard -- '*.h' '*.cpp' '*.cu' '*.cuh' '*.py' '*.sh' 2>/dev/null || find . -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' -o -name '*.py' -o -name '*.sh' \))
if [ $over -eq 0 ]; then echo "file lengths: none over $limit lines"; fi
exit $over
