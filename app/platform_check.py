"""Before the window opens: can Qt's X11 platform plugin load? If not, say which system libraries
are missing and the one command that installs them, instead of Qt's abort (rc 134).

Qt 6.5+'s xcb plugin links libraries a stock desktop may lack (libxcb-cursor0 most often). The
dynamic loader tells us exactly which: `ldd` on the plugin lists every library "not found".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# The library file names the xcb plugin needs, and the Debian/Ubuntu package of each.
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def xcb_plugin() -> Path | None:
    """The xcb platform plugin of the PySide6 in use (None when it cannot be found)."""
    try:
        import PySide6
    except ImportError:
        return None
    p = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return p if p.is_file() else None


def missing_libraries(plugin: Path, ldd: str | None = None) -> list[str]:
    """Library names the loader cannot find for `plugin` (empty when all load, or ldd is absent)."""
    tool = ldd or shutil.which("ldd")
    if tool is None:
        return []
    try:
        out = subprocess.run([tool, str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    libs = []
    for line in out.splitlines():
        if "not found" in line:
            libs.append(line.split("=>")[0].strip())
    # PySide6 ships its own Qt libraries beside the plugin; only system ones matter here.
    return [lib for lib in libs if not lib.startswith("libQt6")]


def install_advice(libs: list[str]) -> str:
    """What to tell the user: the libraries, and the apt command that installs them."""
    packages = sorted({DEBIAN_PACKAGES.get(lib, "") for lib in libs} - {""})
    lines = [
        "LLaDA Studio cannot open its window: Qt's X11 platform plugin needs system libraries that "
        "are not installed:",
        *(f"  {lib}" for lib in libs),
    ]
    if packages:
        lines += ["On Debian or Ubuntu, install them with:", f"  sudo apt install {' '.join(packages)}"]
    unknown = [lib for lib in libs if lib not in DEBIAN_PACKAGES]
    if unknown:
        lines.append("Your distribution's package manager can tell which packages provide the others.")
    lines.append("The command line works without them: llada-studio generate \"Once upon a time\"")
    return "\n".join(lines)


def uses_xcb() -> bool:
    """Will Qt pick the xcb plugin? (Linux with an X display and no other platform asked for.)"""
    if not sys.platform.startswith("linux"):
        return False
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    # Qt prefers Wayland on a Wayland session, and falls back to xcb.
    return bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


def check_window_platform() -> str | None:
    """None when the window can open; else the message to print (and exit 1)."""
    if not uses_xcb():
        return None
    plugin = xcb_plugin()
    if plugin is None:
        return None
    libs = missing_libraries(plugin)
    return install_advice(libs) if libs else None
