#!/usr/bin/env bash
# The test suite: set up (idempotent), then pytest. Extra arguments go to pytest (e.g. -m slow, -k patch).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
