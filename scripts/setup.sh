#!/usr/bin/env bash
# Set-up, idempotent: .venv with pinned deps, this package (editable), then YOLOv5 7.0 vendored and patched.
# Re-running skips what is already done (pip is rerun only when setup.cfg changed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.yolov5-shuffle-setup
want=$(sha256sum setup.cfg pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing pinned dependencies (torch is several GB on first run)"
  .venv/bin/python -m pip install --upgrade "pip>=24" >/dev/null
  .venv/bin/python -m pip install -e ".[test]"
  # YOLOv5 7.0 imports pkg_resources (gone from setuptools >= 70); torch 2.14 asks for >= 77 but runs.
  .venv/bin/python -m pip install --no-deps "setuptools==69.5.1"
  echo "$want" > "$stamp"
fi
echo "==> vendoring and patching YOLOv5"
.venv/bin/yolov5-shuffle vendor
.venv/bin/yolov5-shuffle patch third_party/yolov5
