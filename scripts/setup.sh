#!/usr/bin/env bash
# Create .venv and install yolo-transfer with its test tools. Torch is pinned to the build this project is
# tested with (pip takes it from the local wheel cache where one exists); set TORCH_SPEC="" to keep your own.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
TORCH_SPEC=${TORCH_SPEC-"torch==2.14.1 torchvision==0.29.1"}
[ -z "$TORCH_SPEC" ] || .venv/bin/python -m pip install -q $TORCH_SPEC
.venv/bin/python -m pip install -q -e ".[dev]"
