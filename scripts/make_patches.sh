#!/usr/bin/env bash
# Regenerate patches/yolov5-V.diff for every supported PyPI release: the tool's --dry-run on a fresh copy.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for v in 6.0.7 6.1.9 6.2.3 7.0.14; do
  "$PY" - "$v" "$tmp/$v" <<'PYEOF'
import sys, zipfile
from yolov5_shuffle.patching.vendor import fetch_wheel
with zipfile.ZipFile(fetch_wheel(sys.argv[1])) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("yolov5/")])
PYEOF
  "$PY" -m yolov5_shuffle patch "$tmp/$v/yolov5" --dry-run > "patches/yolov5-$v.diff"
  echo "patches/yolov5-$v.diff"
done
