#!/usr/bin/env bash
# Fetches CLIP's BPE merges file (bpe_simple_vocab_16e6.txt.gz, MIT licence, (c) 2021 OpenAI, as shipped
# inside the open_clip_torch wheel) into .deps/clip/, where models/clip_tokenizer.h looks for it.
# The file is data under its own licence, so it is fetched, not committed. Needs python3 with pip, and PyPI.
#   tools/fetch_clip_vocab.sh [dest_dir]      (default .deps/clip; no-op when the file is already there)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/.deps/clip}"
FILE="bpe_simple_vocab_16e6.txt.gz"
VERSION="3.3.0"  # open_clip_torch release the file is taken from
SHA256="924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"

mkdir -p "$DEST"
if [ -f "$DEST/$FILE" ] && echo "$SHA256  $DEST/$FILE" | sha256sum -c --status; then
  echo "fetch_clip_vocab: $DEST/$FILE present"
  exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: -d "$TMP" "open_clip_torch==$VERSION"
python3 - "$TMP" "$DEST/$FILE" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/open_clip_torch-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("open_clip/bpe_simple_vocab_16e6.txt.gz"))
PY
echo "$SHA256  $DEST/$FILE" | sha256sum -c --status || { echo "fetch_clip_vocab: $DEST/$FILE has an unexpected sha256" >&2; exit 1; }
echo "fetch_clip_vocab: wrote $DEST/$FILE"
