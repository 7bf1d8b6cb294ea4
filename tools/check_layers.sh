#!/usr/bin/env bash
# The house's layering, checked: kernels -> engine -> models -> training -> tools, each folder
# including only its own layer and the ones below it (bench/ and tests/ sit on top and may include
# anything). Prints every offending include as file:line and exits 1 when there is one.
#   tools/check_layers.sh [repository root]   (default: the checkout this script is in)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
layers=(kernels engine models training tools)
bad=0
for ((i = 0; i < ${#layers[@]}; i++)); do
  here=${layers[i]}
  above=("${layers[@]:i+1}")
  [ ${#above[@]} -eq 0 ] || [ ! -d "$here" ] && continue
  pattern="^[[:space:]]*#[[:space:]]*include[[:space:]]*\"($(IFS='|'; echo "${above[*]}"))/"
  # -r over the folder: .h, .cpp, .cu and .cuh alike.
  if hits=$(grep -rnE --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' "$pattern" "$here"); then
    echo "$hits" | sed "s|\$|   <- $here/ includes a higher layer|"
    bad=1
  fi
done
if [ $bad -eq 0 ]; then
  echo "layers: no include runs upward (${layers[*]})"
fi
exit $bad
