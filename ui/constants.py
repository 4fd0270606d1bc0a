"""Constants shared by the live app's modules; importing this pulls in nothing else.

It exists so that modules which need the same number (the eps slider and ``--eps``, the
GIF size of recordings and of ``main.py``'s fallback render) import it from here instead
of from each other, which made import cycles (``ui.controls`` importing ``ui.app``); and
so that ``scripts/setup.sh`` can read the Qt libraries' packages without importing the app.
"""

from __future__ import annotations

EPS_MAX = 64
"""The largest ghost budget, in 1/255 units: the eps slider's range and ``--eps``'s."""

GIF_WIDTH = 800
"""Width in pixels of the GIFs the app writes (recordings, the no-display render):
GIFs are scaled down because a palette per frame is costly at full size."""

LIVE_OUT_DIR = "out/live"
"""The default folder for the window's snapshots and recordings (``--out``)."""

QT_XCB_PACKAGES: dict[str, str] = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
}
"""Every system library that Qt's X11 plugin (``libqxcb.so``) and the Qt libraries it
loads (Qt6XcbQpa, Gui, Core, DBus, Widgets) link against, with its Debian/Ubuntu package:
the NEEDED entries of those files (``objdump -p``), each owned by the package ``dpkg -S``
names. libc, libm, libstdc++ and libgcc_s are left out: Python itself needs them. The one
list: :mod:`ui.app` names the packages of what is missing, ``scripts/setup.sh`` installs
them all."""

#: The model combo's entry that opens a file dialog for a model card.
OPEN_CARD = "Open model card…"
SOURCE_HINT = "0 = camera, a video or image file, screen or screen:X,Y,W,H"
#: What the baseline combo shows for each ``PipelineSettings.baseline`` value.
BASELINE_NAMES: dict[str, str] = {"none": "trained patch", "grey": "grey square",
                                  "noise": "noise square"}
BASELINE_HINT = ("Hide mode's honest comparison: a grey or noise square shows a same-size "
                 "plain square in the same place instead of the trained patch; if the "
                 "detector misses the region with it too, the patch proves nothing (key B "
                 "toggles trained patch / grey square)")
