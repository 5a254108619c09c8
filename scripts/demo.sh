#!/usr/bin/env bash
# The main job: set up, then make the demo dataset, train yolov5s-shufflenetv2 and detect on images and a video.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/yolov5-shuffle demo "$@"
