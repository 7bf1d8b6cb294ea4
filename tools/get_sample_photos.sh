#!/usr/bin/env bash
# Extracts a few public-domain / CC0 photographs from Debian's python3-skimage package for demos
# (sind-score, iqa-distort, loader-bench on real content). Nothing is installed: the .deb is fetched
# with `apt-get download` and unpacked with `dpkg -x` into a scratch folder.
#
#   tools/get_sample_photos.sh [dest]      (default: .deps/samples, git-ignored)
#
# The repository layout has no top-level data/ folder, so the photos live under .deps/ with the other
# fetched material. Tests never depend on this script having run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/.deps/samples}"
PKG=python3-skimage
DATA=usr/lib/python3/dist-packages/skimage/data

# file -> licence, as scikit-image's data documentation (skimage/data/_fetchers.py) states it.
declare -A LICENCE=(
  [astronaut.png]="public domain (NASA photograph of Eileen Collins)"
  [camera.png]="CC0, photographer Lav Varshney (grayscale)"
  [chelsea.png]="CC0, photographer Stefan van der Walt"
  [coffee.png]="CC0, photographer Rachel Michetti"
  [rocket.jpg]="public domain (SpaceX photograph)"
  [hubble_deep_field.jpg]="public domain (NASA)"
)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
if ! apt-get download "$PKG" >/dev/null 2>&1; then
  echo "apt-get download $PKG failed; refreshing the package lists once (apt-get update)"
  apt-get update >/dev/null
  apt-get download "$PKG" >/dev/null
fi
deb="$(ls "$PKG"_*.deb | head -n 1)"
dpkg -x "$deb" unpacked

mkdir -p "$DEST"
{
  echo "Sample photographs extracted from Debian's $deb by tools/get_sample_photos.sh."
  echo "Licences as documented by scikit-image (skimage/data/_fetchers.py):"
} >"$DEST/LICENSES.txt"
for f in "${!LICENCE[@]}"; do
  src="unpacked/$DATA/$f"
  [ -f "$src" ] || { echo "error: $f not found in $deb" >&2; exit 1; }
  cp "$src" "$DEST/$f"
  echo "  $f: ${LICENCE[$f]}" >>"$DEST/LICENSES.txt"
done
echo "wrote ${#LICENCE[@]} photos and LICENSES.txt to $DEST"
