#!/usr/bin/env bash
# The yardstick's GPU grid (docs/accuracy/README.md) in ONE call of the device tool, ending within 9 minutes.
#
#   1. here, once per checkout:   scripts/yardstick_gpu.sh prepare
#        set-up (YOLOv5 vendored and patched in third_party/yolov5) and the one wheel the H200 image lacks
#        (ultralytics: YOLOv5 7.0.14's utils/general.py imports it) into .whl/ (ignored by .git/info/exclude)
#   2. device tool:  run(command="scripts/yardstick_gpu.sh run", carry=["third_party/yolov5", ".whl"], timeout_s=600)
#        yolov5n at 224/256/288/320, yolov5n-shufflenetv2 at 320/384, the speed-goal candidates ghostpan64-p6@448 and
#        ghostpan96@416, seeds 0-2, 12 runs side by side (--cache ram, 1 loader worker, 1 thread each), in priority
#        order; runs still going at the deadline are stopped and not reported. $OUT gets yardstick.json,
#        README.md (table), curves.png, yardstick.log and logs.tar.gz (every run's train.py output).
#   3. here:  .venv/bin/yolov5-shuffle yardstick --report-only --add /work/.device/<files_at>/yardstick.json --ship
#             [--bench docs/accuracy/bench.json]      (merges into docs/accuracy/, copies into the package)
#
# Knobs (environment): PARALLEL (12), WORKERS (1), DEADLINE_MIN (7.5), TRAIN / EPOCHS to resize the recipe, PYTHON
# (python3: the image's, with PyTorch). Arguments after 'run' go to `yolov5-shuffle yardstick` (last one wins), e.g.
# a rehearsal of the mechanics here: OUT=/tmp/o PYTHON=.venv/bin/python scripts/yardstick_gpu.sh run --grid smoke
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-run}" in
prepare)
  scripts/setup.sh
  exclude=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$exclude")"
  grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
  version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('ultralytics'))")
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "ultralytics==$version"
  du -sh third_party/yolov5 .whl
  echo "ready: device tool run(command=\"scripts/yardstick_gpu.sh run\", carry=[\"third_party/yolov5\", \".whl\"]," \
    "timeout_s=600)"
  ;;
run)
  : "${OUT:?run this on the device machine (the device tool sets OUT); here, run: $0 prepare}"
  t0=$(date +%s)
  py=${PYTHON:-python3}
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PWD:$PWD/third_party:/tmp/site" PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  extra=()
  [ -n "${TRAIN:-}" ] && extra+=(--train "$TRAIN")
  [ -n "${EPOCHS:-}" ] && extra+=(--epochs "$EPOCHS")
  # the rows already measured (here, or by an earlier device call): the grid skips them and runs only the rest
  [ -f docs/accuracy/yardstick.json ] && cp docs/accuracy/yardstick.json "$OUT/"
  set +e
  "$py" -m yolov5_shuffle yardstick --grid gpu --parallel "${PARALLEL:-12}" --workers "${WORKERS:-1}" \
    --threads 1 --cache ram --no-vendor --deadline-min "${DEADLINE_MIN:-7.5}" --workdir /tmp/yardstick --out "$OUT" \
    "${extra[@]}" "${@:2}" 2>&1 | tee "$OUT/yardstick.log"
  rc=${PIPESTATUS[0]}
  set -e
  tar -czf "$OUT/logs.tar.gz" -C /tmp/yardstick logs 2>/dev/null || true
  echo "yardstick_gpu.sh: exit $rc after $(( $(date +%s) - t0 )) s"
  exit "$rc"
  ;;
*)
  echo "usage: $0 prepare|run" >&2
  exit 2
  ;;
esac
