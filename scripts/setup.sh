#!/usr/bin/env bash
# Set-up, idempotent: .venv with today's packages (scripts/requirements.txt), this package (editable), then
# YOLOv5 7.0 vendored with its fixes for today's packages and patched.
# Re-running skips what is already done (pip is rerun only when the requirements changed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.yolov5-shuffle-setup
want=$(sha256sum setup.cfg pyproject.toml scripts/setup.sh scripts/requirements.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing today's packages (torch is several GB on first run)"
  .venv/bin/python -m pip install --upgrade "pip>=24" >/dev/null
  .venv/bin/python -m pip install -r scripts/requirements.txt -e ".[test]"
  echo "$want" > "$stamp"
fi
# TFLite export (opt-in): onnx2tf pins old numpy/onnx/tensorflow, so it gets a venv of its own, which
# yolov5_shuffle.deploy.runtimes.tflite finds at .venv-onnx2tf/bin/onnx2tf (or wherever $YOLOV5_SHUFFLE_ONNX2TF points).
if [ "${YOLOV5_SHUFFLE_TFLITE:-0}" = 1 ]; then
  tf_stamp=.venv-onnx2tf/.yolov5-shuffle-setup
  tf_want=$(sha256sum scripts/requirements-onnx2tf.txt | cut -c1-16)
  if [ "$(cat "$tf_stamp" 2>/dev/null)" != "$tf_want" ]; then
    echo "==> installing onnx2tf and tensorflow in .venv-onnx2tf (TFLite export)"
    [ -x .venv-onnx2tf/bin/python ] || "$PYTHON" -m venv .venv-onnx2tf
    .venv-onnx2tf/bin/python -m pip install -r scripts/requirements-onnx2tf.txt
    echo "$tf_want" > "$tf_stamp"
  fi
fi
echo "==> vendoring and patching YOLOv5"
.venv/bin/yolov5-shuffle vendor
.venv/bin/yolov5-shuffle patch third_party/yolov5
# YOLOv7 is not on PyPI: where its source archive lies beside the checkout (this project's machines), vendor
# it too, for the benchmark. Elsewhere: yolov5-shuffle vendor --from PATH/TO/yolov7 (a clone or archive).
for archive in ../shared/third_party/yolov7-*.tar.gz; do
  [ -f "$archive" ] || continue
  echo "==> vendoring and patching YOLOv7 from $archive"
  .venv/bin/yolov5-shuffle vendor --from "$archive"
  .venv/bin/yolov5-shuffle patch third_party/yolov7
done
